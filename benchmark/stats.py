"""Confidence intervals for task metrics (95% by default)."""

from __future__ import annotations

import numpy as np

from benchmark.contracts import MetricValue


def proportion(successes: np.ndarray, confidence: float = 0.95) -> MetricValue:
    """Mean of 0/1 outcomes with a Wilson score interval."""
    from scipy.stats import binomtest

    successes = np.asarray(successes, dtype=bool)
    n, k = len(successes), int(successes.sum())
    if n == 0:
        return MetricValue(float("nan"), n=0)
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return MetricValue(k / n, float(ci.low), float(ci.high), n)


def mean(values: np.ndarray, confidence: float = 0.95, seed: int = 0, resamples: int = 2000) -> MetricValue:
    """Mean of per-sketch values (NaN ignored) with a percentile bootstrap interval (seeded)."""
    return paired(np.mean, values, confidence=confidence, seed=seed, resamples=resamples)


def paired(statistic, *columns: np.ndarray, confidence: float = 0.95, seed: int = 0,
           resamples: int = 2000) -> MetricValue:
    """``statistic(*columns, axis=-1)`` of paired per-sample columns (rows holding a NaN dropped)
    with a percentile bootstrap interval that resamples whole rows (seeded); ``statistic`` is
    vectorised (reduces along ``axis``), e.g. ``np.mean`` or a ratio of two means."""
    from scipy.stats import bootstrap

    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    keep = np.logical_and.reduce([np.isfinite(c) for c in cols])
    cols = [c[keep] for c in cols]
    n = int(keep.sum())
    if n == 0:
        return MetricValue(float("nan"), n=0)
    value = float(statistic(*cols, axis=-1))
    if n == 1 or all(np.all(c == c[0]) for c in cols):
        return MetricValue(value, value, value, n)
    res = bootstrap(cols, statistic, paired=True, vectorized=True, confidence_level=confidence,
                    n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed))
    return MetricValue(value, float(res.confidence_interval.low), float(res.confidence_interval.high), n)
