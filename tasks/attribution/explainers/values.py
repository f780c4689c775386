"""The value function of the removal-based explainers and tasks: the target-class probability of
sketches drawn with a subset of their strokes (:func:`benchmark.removal.remove_strokes`)."""

from __future__ import annotations

import torch

from benchmark.batch import StrokeBatch
from benchmark.removal import remove_strokes


@torch.no_grad()
def probabilities(model, batch: StrokeBatch, targets: torch.Tensor) -> torch.Tensor:
    """``(B,)`` target-class probability of each sketch of ``batch``."""
    return model(batch).float().softmax(-1).gather(1, targets.view(-1, 1)).squeeze(1)


@torch.no_grad()
def subset_values(model, batch: StrokeBatch, rows: torch.Tensor, keep: torch.Tensor, targets: torch.Tensor,
                  chunk: int) -> torch.Tensor:
    """``(N,)`` target probability of variant ``i``: sketch ``rows[i]`` of ``batch`` with only the
    strokes ``keep[i]`` ``(N, S)``, for target ``targets[rows[i]]``; ``chunk`` variants a pass."""
    out = torch.empty(len(rows), device=keep.device)
    for start in range(0, len(rows), chunk):
        part = slice(start, start + chunk)
        sub = remove_strokes(batch.select(rows[part]), keep[part])
        out[part] = probabilities(model, sub, targets[rows[part]])
    return out
