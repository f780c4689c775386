"""Per-sketch metrics: the one place where a declared aggregation becomes a number.

A task declares each per-sketch metric once (:class:`benchmark.Metric` with a ``field`` and an
``aggregation``) and writes one row per sketch; :func:`aggregate` turns the rows into the value and
95% confidence interval recorded for the run, and :func:`statistic` is the same aggregation as a
vectorised function, which the leaderboard's paired permutation test recomputes on two runs. So
the statistic a leaderboard ranks is, by construction, the statistic it tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmark import stats
from benchmark.contracts import MetricValue


def columns(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[np.ndarray]:
    """Float columns of ``fields`` (``None`` -> NaN; booleans -> 0/1) over ``rows``."""
    return [np.asarray([np.nan if r.get(f) is None else float(r[f]) for r in rows], dtype=np.float64)
            for f in fields]


def statistic(aggregation: str) -> Callable[..., np.ndarray]:
    """``f(*columns, axis=-1)``: the aggregation of finite, paired per-sketch columns."""
    if aggregation in ("mean", "proportion"):
        return lambda values, axis=-1: np.mean(values, axis=axis)
    if aggregation == "ratio_of_means":
        return lambda numerator, denominator, axis=-1: np.mean(numerator, axis=axis) / np.mean(denominator, axis=axis)
    raise ValueError(f"unknown aggregation {aggregation!r}")


def finite_rows(cols: Sequence[np.ndarray]) -> np.ndarray:
    """The rows where every column is finite (a sketch lacking a value is left out)."""
    return np.logical_and.reduce([np.isfinite(c) for c in cols])


def aggregate(aggregation: str, cols: Sequence[np.ndarray], seed: int) -> MetricValue:
    """The value and 95% CI: Wilson for a proportion, percentile bootstrap (seeded, whole sketches
    resampled) for a mean or a ratio of means."""
    if aggregation == "proportion":
        (values,) = cols
        values = values[np.isfinite(values)]
        return stats.proportion(values > 0.5)
    return stats.paired(statistic(aggregation), *cols, seed=seed)
