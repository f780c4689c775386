"""The random control and leave-one-stroke-out occlusion."""

from __future__ import annotations

import numpy as np
import torch

from benchmark.batch import StrokeBatch
from tasks.attribution.explainers.values import probabilities, subset_values

#: Sub-stream of the run seed for the random explainer.
_RANDOM_STREAM = 11


def random_scores(batch: StrokeBatch, seed: int) -> torch.Tensor:
    """``(B, S)`` uniform scores from a generator seeded by ``(seed, sketch index)``; padding 0."""
    S = batch.stroke_mask.shape[1]
    scores = np.stack([np.random.default_rng([seed, _RANDOM_STREAM, int(i)]).random(S)
                       for i in batch.index.cpu().tolist()])
    out = torch.as_tensor(scores, dtype=torch.float32, device=batch.stroke_mask.device)
    return out * batch.stroke_mask


@torch.no_grad()
def occlusion(model, batch: StrokeBatch, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """``(B, S)``: ``v(all) - v(all but stroke s)``; all strokes of all sketches in passes of ``chunk``."""
    full = probabilities(model, batch, targets)
    rows, strokes = torch.nonzero(batch.stroke_mask, as_tuple=True)
    keep = batch.stroke_mask[rows].clone()
    keep[torch.arange(len(rows), device=keep.device), strokes] = False
    without = subset_values(model, batch, rows, keep, targets, chunk)
    out = torch.zeros(batch.stroke_mask.shape, device=keep.device)
    out[rows, strokes] = full[rows] - without
    return out


@torch.no_grad()
def occlusion_one_at_a_time(model, batch: StrokeBatch, targets: torch.Tensor) -> torch.Tensor:
    """The same scores one removal per forward pass (the reference :func:`occlusion` is checked
    against, and the baseline of ``bench perf attribution``)."""
    out = torch.zeros(batch.stroke_mask.shape, device=batch.stroke_mask.device)
    for b in range(batch.size):
        one = batch.select(slice(b, b + 1))
        full = probabilities(model, one, targets[b:b + 1])
        for s in range(int(batch.num_strokes[b])):
            keep = one.stroke_mask.clone()
            keep[0, s] = False
            out[b, s] = full[0] - subset_values(model, one, torch.zeros(1, dtype=torch.long), keep,
                                                 targets[b:b + 1], 1)[0]
    return out
