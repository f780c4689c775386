"""Point sequences in drawing order (sketch-rnn's stroke-5 format), differentiable in locations."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmark.batch import StrokeBatch


@dataclass
class PointSequence:
    """Every sketch's real points in drawing order, padded to the batch's longest sketch.

    - ``xy`` ``(B, N, 2)``: absolute points (padding repeats the last real point).
    - ``stroke5`` ``(B, N + 1, 5)``: sketch-rnn's ``(dx, dy, p1, p2, p3)``: ``dx, dy`` is the move
      from the previous point (from the canvas centre for the first point), so a stroke's start
      location sets the pen-up move into it; ``p1 = 1`` when the pen stays down to the next point,
      ``p2 = 1`` on a stroke's last point; one end-of-sketch token ``(0, 0, 0, 0, 1)`` follows the
      last point. Padding is all zeros.
    - ``lengths`` ``(B,)`` long: real points per sketch (the stroke-5 sequence has one more).
    - ``mask`` ``(B, N)`` bool: real points.
    """

    xy: torch.Tensor
    stroke5: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor


def point_sequence(batch: StrokeBatch, locations: torch.Tensor | None = None) -> PointSequence:
    """Gather ``batch``'s real points (with stroke start points ``locations``) in drawing order."""
    B, S, P = batch.point_mask.shape
    flat_mask = batch.point_mask.reshape(B, S * P)
    lengths = flat_mask.sum(1)
    N = max(int(lengths.max()), 1)  # a batch of empty sketches (benchmark.removal) keeps one padded step
    # stable sort puts each sketch's real points first, keeping stroke-then-point order
    order = torch.sort((~flat_mask).to(torch.uint8), dim=1, stable=True).indices[:, :N]
    mask = torch.arange(N, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)
    last = (lengths - 1).clamp_min(0).unsqueeze(1)
    order = torch.where(mask, order, order.gather(1, last))

    xy = batch.points(locations).reshape(B, S * P, 2).gather(1, order.unsqueeze(-1).expand(B, N, 2))
    feats = batch.offsets.reshape(B, S * P, 4).gather(1, order.unsqueeze(-1).expand(B, N, 4))
    prev = torch.cat([torch.zeros_like(xy[:, :1]), xy[:, :-1]], dim=1)
    m = mask.unsqueeze(-1).to(xy.dtype)
    body = torch.cat([(xy - prev) * m, feats[..., 2:4].to(xy.dtype) * m], dim=-1)  # dx, dy, p1, p2
    body = torch.cat([body, torch.zeros_like(body[:, :1])], dim=1)  # room for the end token
    steps = torch.arange(N + 1, device=lengths.device).unsqueeze(0)
    end = (steps == lengths.unsqueeze(1)).to(xy.dtype).unsqueeze(-1)  # p3
    stroke5 = torch.cat([body, end], dim=-1)
    return PointSequence(xy=xy, stroke5=stroke5, lengths=lengths, mask=mask)
