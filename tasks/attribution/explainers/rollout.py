"""Attention rollout over the stroke tokens of an encoder with the ``attention`` capability."""

from __future__ import annotations

import torch

from benchmark.batch import StrokeBatch


@torch.no_grad()
def attention_rollout(model, batch: StrokeBatch) -> torch.Tensor:
    """``(B, S)``: the CLS row of ``prod_l (0.5 * mean_heads(A_l) + 0.5 * I)`` (rows renormalised),
    at the stroke tokens ``1..S``."""
    maps = model.attention_probabilities(batch)
    rolled = None
    for probs in maps:
        a = probs.float().mean(1)
        a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], device=a.device)
        a = a / a.sum(-1, keepdim=True)
        rolled = a if rolled is None else a @ rolled
    S = batch.stroke_mask.shape[1]
    return rolled[:, 0, 1:1 + S] * batch.stroke_mask
