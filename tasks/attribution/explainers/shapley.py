"""Stroke Shapley values: exact over all subsets for few strokes, permutation sampling above."""

from __future__ import annotations

import math

import numpy as np
import torch

from benchmark.batch import StrokeBatch
from tasks.attribution.explainers.values import subset_values

#: Sub-stream of the run seed for sampled stroke orders.
_PERMUTATION_STREAM = 12


def exact_weights(n: int) -> tuple[np.ndarray, np.ndarray]:
    """For ``n`` players: ``masks`` ``(2^n, n)`` bool (subset ``m`` holds player ``i`` where bit ``i``
    of ``m`` is set) and ``w`` ``(2^n, n)``: the coefficient of ``v(m)`` in player ``i``'s value,
    ``|S|!(n-|S|-1)!/n!`` with sign + where ``i`` in ``m`` (``S = m - i``) and - otherwise."""
    m = np.arange(1 << n)
    masks = ((m[:, None] >> np.arange(n)) & 1).astype(bool)
    size = masks.sum(1)
    fact = [math.factorial(k) for k in range(n + 1)]
    plus = np.array([fact[s - 1] * fact[n - s] / fact[n] if s else 0.0 for s in size])
    minus = np.array([fact[s] * fact[n - s - 1] / fact[n] if s < n else 0.0 for s in size])
    w = np.where(masks, plus[:, None], -minus[:, None])
    return masks, w


def shapley(model, batch: StrokeBatch, targets: torch.Tensor, seed: int, max_exact: int, samples: int,
            chunk: int) -> torch.Tensor:
    """``(B, S)`` Shapley values of each sketch's strokes for the target probability."""
    device = batch.stroke_mask.device
    counts = batch.num_strokes.cpu().numpy()
    index = batch.index.cpu().numpy()
    rows, keeps, plans = [], [], []
    for b, n in enumerate(counts):
        n = int(n)
        if n <= max_exact:
            masks, w = exact_weights(n)
        else:
            masks, w = _sampled(n, samples, np.random.default_rng([seed, _PERMUTATION_STREAM, int(index[b])]))
        keep = np.zeros((len(masks), batch.stroke_mask.shape[1]), dtype=bool)
        keep[:, :n] = masks
        rows.append(np.full(len(masks), b))
        keeps.append(keep)
        plans.append(w)
    values = subset_values(model, batch, torch.as_tensor(np.concatenate(rows), device=device),
                           torch.as_tensor(np.concatenate(keeps), device=device), targets, chunk).double().cpu()
    out = torch.zeros(batch.stroke_mask.shape, dtype=torch.float64)
    start = 0
    for b, w in enumerate(plans):
        v = values[start:start + len(w)]
        out[b, :w.shape[1]] = v @ torch.as_tensor(w)
        start += len(w)
    return out.float().to(device)


def _sampled(n: int, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Subsets and weights of the permutation estimate: ``samples`` stroke orders (each drawn one
    followed by its reverse, antithetic), each contributing ``v(prefix + i) - v(prefix)`` for
    every stroke ``i``; the ``n + 1`` prefixes of every order are evaluated once."""
    orders = []
    for _ in range((samples + 1) // 2):
        p = rng.permutation(n)
        orders += [p, p[::-1]]
    masks, w = [], []
    for p in orders:
        prefix = np.zeros((n + 1, n), dtype=bool)
        for k in range(n):
            prefix[k + 1:, p[k]] = True
        weight = np.zeros((n + 1, n))
        weight[np.arange(1, n + 1), p] += 1.0 / len(orders)
        weight[np.arange(n), p] -= 1.0 / len(orders)
        masks.append(prefix)
        w.append(weight)
    return np.concatenate(masks), np.concatenate(w)
