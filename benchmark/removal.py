"""Stroke removal, the one meaning of "delete a stroke" shared by every encoder and explainer.

A removed stroke is not drawn, not tokenised and not rasterised: :func:`remove_strokes` compacts it
out of the :class:`~benchmark.batch.StrokeBatch`, so every encoder sees the sketch as if it had been
drawn without it (the remaining strokes keep their drawing order, renumbered ``0..k-1``; padding is
trimmed to the longest kept sketch and stroke, exactly as :func:`benchmark.batch.collate` pads).
A sketch with no stroke left has an all-false ``stroke_mask`` row (its logits are the encoder's
output on an empty canvas).
"""

from __future__ import annotations

import torch

from benchmark.batch import StrokeBatch


def remove_strokes(batch: StrokeBatch, keep: torch.Tensor) -> StrokeBatch:
    """The batch with only the strokes where ``keep`` ``(B, S)`` (bool) is true; padded strokes are
    never kept. Differentiable in ``offsets`` and ``locations`` (gathers only)."""
    keep = keep.to(device=batch.stroke_mask.device, dtype=torch.bool) & batch.stroke_mask
    B, S = keep.shape
    counts = keep.sum(1)
    S_new = max(int(counts.max()) if B else 0, 1)
    # the kept strokes first, in their order; a stable sort keeps the drawing order among them
    source = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices[:, :S_new]  # (B, S_new)
    slot = torch.arange(S_new, device=keep.device).expand(B, S_new)
    real = slot < counts[:, None]
    point_mask = batch.point_mask.gather(1, source[..., None].expand(-1, -1, batch.point_mask.shape[2]))
    point_mask = point_mask & real[..., None]
    P_new = max(int(point_mask.sum(2).max()) if B else 0, 1)
    point_mask = point_mask[:, :, :P_new]
    offsets = batch.offsets.gather(1, source[..., None, None].expand(-1, -1, *batch.offsets.shape[2:]))
    offsets = offsets[:, :, :P_new] * point_mask[..., None]
    locations = batch.locations.gather(1, source[..., None].expand(-1, -1, 2)) * real[..., None]
    order = torch.where(real, slot, torch.zeros_like(slot))
    return batch.replace(offsets=offsets, point_mask=point_mask, locations=locations, stroke_mask=real,
                         order=order, truncated_strokes=0, truncated_points=0)

