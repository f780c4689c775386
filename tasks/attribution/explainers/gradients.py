"""Gradient explainers: saliency, gradient x input, integrated gradients, each summed per stroke
over its point deltas ``(dx, dy)`` and its start location (pen states are not perturbed)."""

from __future__ import annotations

import torch

from benchmark.batch import StrokeBatch


def _logit_grads(model, batch: StrokeBatch, targets: torch.Tensor, scale: float = 1.0):
    """Gradients of the summed target logits w.r.t. the point deltas ``(B, S, P, 2)`` and the
    locations ``(B, S, 2)`` of ``batch`` with both multiplied by ``scale``."""
    deltas = (batch.offsets[..., :2] * scale).detach().requires_grad_(True)
    locations = (batch.locations * scale).detach().requires_grad_(True)
    offsets = torch.cat([deltas, batch.offsets[..., 2:]], -1)
    with torch.enable_grad():
        logits = model(batch.replace(offsets=offsets, locations=locations))
        logits.gather(1, targets.view(-1, 1)).sum().backward()
    # an input the logits do not use (no location term) has no gradient: zero
    return tuple(torch.zeros_like(x) if x.grad is None else torch.nan_to_num(x.grad) for x in (deltas, locations))


def _per_stroke(batch: StrokeBatch, point_terms: torch.Tensor, location_terms: torch.Tensor) -> torch.Tensor:
    points = (point_terms.sum(-1) * batch.point_mask).sum(-1)
    return ((points + location_terms.sum(-1)) * batch.stroke_mask).float()


def gradient(model, batch: StrokeBatch, targets: torch.Tensor) -> torch.Tensor:
    g_points, g_loc = _logit_grads(model, batch, targets)
    return _per_stroke(batch, g_points.abs(), g_loc.abs())


def gradient_x_input(model, batch: StrokeBatch, targets: torch.Tensor) -> torch.Tensor:
    g_points, g_loc = _logit_grads(model, batch, targets)
    return _per_stroke(batch, g_points * batch.offsets[..., :2], g_loc * batch.locations)


def integrated_gradients(model, batch: StrokeBatch, targets: torch.Tensor, steps: int) -> torch.Tensor:
    """Midpoint Riemann sum of the gradients along the straight path from the baseline (deltas
    and locations 0) to the input, times (input - baseline)."""
    total_points = torch.zeros_like(batch.offsets[..., :2])
    total_loc = torch.zeros_like(batch.locations)
    for k in range(steps):
        g_points, g_loc = _logit_grads(model, batch, targets, (k + 0.5) / steps)
        total_points += g_points
        total_loc += g_loc
    return _per_stroke(batch, total_points / steps * batch.offsets[..., :2], total_loc / steps * batch.locations)
