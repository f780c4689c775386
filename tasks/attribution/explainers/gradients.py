"""Gradient explainers: saliency, gradient x input, integrated gradients, each summed per stroke
over its point deltas ``(dx, dy)`` and its start location (pen states are not perturbed)."""

from __future__ import annotations

import torch

from benchmark.batch import StrokeBatch


def _logit_grads(model, batch: StrokeBatch, targets: torch.Tensor, scale: torch.Tensor | None = None):
    """Gradients of the summed target logits w.r.t. the point deltas ``(B, S, P, 2)`` and the
    locations ``(B, S, 2)`` of ``batch``, both multiplied by ``scale`` (one number per sketch, ``(B,)``;
    ``None``: 1)."""
    deltas, locations = batch.offsets[..., :2], batch.locations
    if scale is not None:
        scale = scale.to(locations.dtype).view(-1, 1, 1)
        deltas, locations = deltas * scale[..., None], locations * scale
    deltas, locations = deltas.detach().requires_grad_(True), locations.detach().requires_grad_(True)
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


#: Sketches per forward pass of :func:`integrated_gradients` (its steps ride along the batch).
IG_ROWS_PER_PASS = 512


def integrated_gradients(model, batch: StrokeBatch, targets: torch.Tensor, steps: int) -> torch.Tensor:
    """Midpoint Riemann sum of the gradients along the straight path from the baseline (deltas
    and locations 0) to the input, times (input - baseline). The steps are stacked along the
    batch (``IG_ROWS_PER_PASS`` sketches a pass, at least one step): one forward and backward
    per pass instead of per step; each sketch's gradient depends on that sketch alone."""
    size = batch.size
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    per_pass = max(1, IG_ROWS_PER_PASS // max(1, size))
    total_points = torch.zeros_like(batch.offsets[..., :2])
    total_loc = torch.zeros_like(batch.locations)
    for first in range(0, steps, per_pass):
        scales = alphas[first:first + per_pass]
        k = len(scales)
        rows = torch.arange(size, device=batch.labels.device).repeat(k)
        g_points, g_loc = _logit_grads(model, batch.select(rows), targets.repeat(k),
                                       scales.to(batch.labels.device).repeat_interleave(size))
        total_points += g_points.view(k, *total_points.shape).sum(0)
        total_loc += g_loc.view(k, *total_loc.shape).sum(0)
    return _per_stroke(batch, total_points / steps * batch.offsets[..., :2], total_loc / steps * batch.locations)
