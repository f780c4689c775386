"""Model-blind control scores: stroke statistics that never look at the classifier.

Each is ``(B, S)`` from the batch alone (padding 0): a stroke's arc length (sum of its point
deltas' lengths), its point count, its position in the drawing order, and the distance of its
centroid to the centre of the sketch's bounding box. They are the controls of ``stroke_pointing``
and ``stroke_deletion``: a pointing set on which any of them separates evidence from distractor
strokes (in either direction) can be solved without the model, so it ranks nothing.
"""

from __future__ import annotations

import torch

from benchmark.batch import StrokeBatch


def stroke_length(batch: StrokeBatch) -> torch.Tensor:
    steps = torch.linalg.vector_norm(batch.offsets[..., :2], dim=-1) * batch.point_mask
    return steps.sum(-1) * batch.stroke_mask


def point_count(batch: StrokeBatch) -> torch.Tensor:
    return batch.point_mask.sum(-1).to(torch.float32) * batch.stroke_mask


def drawing_order(batch: StrokeBatch) -> torch.Tensor:
    """Later strokes score higher (the gate reads either direction)."""
    return (batch.order.to(torch.float32) + 1) * batch.stroke_mask


def centre_distance(batch: StrokeBatch) -> torch.Tensor:
    points = batch.locations.unsqueeze(2) + torch.cumsum(batch.offsets[..., :2], dim=2)  # (B, S, P, 2)
    mask = batch.point_mask.unsqueeze(-1)
    big = torch.finfo(points.dtype).max
    lo = torch.where(mask, points, big).amin(dim=(1, 2))
    hi = torch.where(mask, points, -big).amax(dim=(1, 2))
    centre = (lo + hi) / 2  # (B, 2)
    count = batch.point_mask.sum(-1).clamp(min=1).unsqueeze(-1)
    centroid = (points * mask).sum(2) / count  # (B, S, 2)
    return torch.linalg.vector_norm(centroid - centre[:, None, :], dim=-1) * batch.stroke_mask
