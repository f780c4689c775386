"""Confidence intervals: known values and edge cases of the bootstrap helpers."""

from __future__ import annotations

import numpy as np

from benchmark import stats
from tasks.sli import metrics as sli_metrics
from benchmark.metrics import aggregate


def test_mean_ignores_nan_and_brackets_the_mean():
    values = np.array([0.1, 0.4, np.nan, 0.3, 0.9, 0.2, 0.5])
    mv = stats.mean(values, seed=1)
    assert mv.n == 6 and np.isclose(mv.value, np.nanmean(values))
    assert mv.ci_low < mv.value < mv.ci_high
    assert stats.mean(values, seed=1) == mv  # seeded


def test_degenerate_columns():
    assert stats.mean(np.full(5, 0.25)).as_dict() == {"value": 0.25, "ci_low": 0.25, "ci_high": 0.25, "n": 5}
    assert stats.mean(np.array([0.7])).ci_low == 0.7
    assert stats.mean(np.array([np.nan, np.nan])).n == 0


def test_ratio_of_means_fidelity_is_the_fidelity_of_the_mean_errors():
    rng = np.random.default_rng(0)
    before = rng.uniform(0.2, 0.6, 40)
    after = before * rng.uniform(0.3, 0.9, 40)
    after[3] = np.nan  # a row with a NaN is dropped from both columns
    keep = np.isfinite(after)
    mv = aggregate("ratio_of_means", [before - after, before], seed=0)  # mean(reduction) / mean(before)
    assert mv.n == 39
    assert np.isclose(mv.value, sli_metrics.fidelity(before[keep].mean(), after[keep].mean()))
    assert 0 < mv.ci_low < mv.value < mv.ci_high < 1
    assert np.allclose(sli_metrics.fidelity(np.array([0.5, 0.0]), np.array([0.25, 0.1])), [0.5, np.nan],
                       equal_nan=True)
