"""Differentiable line rasteriser: strokes (absolute points) to soft grey images, batched.

Canvas: normalised coordinates ``[-1, 1]`` in ``x`` (columns) and ``y`` (rows, not flipped, so
QuickDraw sketches stand upright) map onto a ``size x size`` image; pixel ``j``'s centre sits at
``x = -1 + (2j + 1) / size``. Segments join consecutive real points of a stroke; a one-point
stroke is a dot. A pixel's intensity is the maximum over segments of a truncated Gaussian of its
distance ``d`` (in pixels) to the segment::

    g(d) = max(0, (exp(-d^2 / (2 sigma^2)) - exp(-c^2 / 2)) / (1 - exp(-c^2 / 2))),  c = cutoff

which is 1 on the line, falls smoothly, and is exactly 0 from ``cutoff * sigma`` pixels on; as ``g``
decreases with ``d``, that maximum is ``g`` of the distance to the nearest segment. Because ``g`` is
exactly 0 beyond reach, only (segment, tile) pairs within reach are visited: the image is cut into
``tile x tile`` blocks and each segment visits the blocks near it, without gradients, to find each
pixel's nearest segment; the lit pixels' distances are then recomputed with autograd. The result
equals the dense computation over all segments and pixels at a fraction of its time and memory,
and is differentiable with respect to the points (hence stroke start locations).

:class:`RasterClassifier` is the base of the image baselines (render, then classify).
"""

from __future__ import annotations

import math

import torch

from benchmark.model import EncoderModule

#: Squared segment lengths (in pixels^2) below this are treated as dots.
_DOT_EPS = 1e-12


def stroke_segments(points: torch.Tensor, point_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Segment end points ``(B, S, P, 2, 2)`` and validity ``(B, S, P)`` of padded strokes.

    Segment ``k`` of a stroke joins point ``k`` to point ``k + 1``; it is valid when both points
    are real, or when ``k = 0`` and the stroke has a single point (then it is the dot
    ``(p0, p0)``). Real points must come first within a stroke (as :func:`benchmark.batch.collate`
    lays them out).
    """
    nxt_mask = torch.zeros_like(point_mask)
    nxt_mask[..., :-1] = point_mask[..., 1:]
    nxt = torch.cat([points[..., 1:, :], points[..., -1:, :]], dim=-2)
    end = torch.where(nxt_mask.unsqueeze(-1), nxt, points)
    first = torch.zeros_like(point_mask)
    first[..., 0] = True
    valid = point_mask & (nxt_mask | first)
    return torch.stack([points, end], dim=-2), valid


def rasterise(points: torch.Tensor, point_mask: torch.Tensor, size: int = 64, sigma: float = 1.0,
              cutoff: float = 3.0, tile: int = 8) -> torch.Tensor:
    """Render ``(B, S, P, 2)`` absolute points (real where ``point_mask``) to ``(B, size, size)``.

    ``sigma`` is the line's Gaussian width in pixels and ``cutoff`` (in sigmas) where it reaches 0;
    ``tile`` must divide ``size``. Padded points and strokes draw nothing, so a sketch's image does
    not depend on the batch it is in. Differentiable in ``points`` (float32 or float64): the
    gradient flows through each pixel's nearest segment, the one that sets its intensity.
    """
    if size % tile:
        raise ValueError(f"rasterise: tile {tile} must divide image size {size}")
    B, device = points.shape[0], points.device
    seg, valid = stroke_segments(points, point_mask)
    sketch_of = torch.arange(B, device=device).view(B, 1, 1).expand_as(valid)[valid]  # (N,)
    seg = _segment_parts(seg[valid] * (size / 2) + (size / 2 - 0.5))  # pixel units: pixel j's centre at j
    reach2 = (cutoff * sigma) ** 2
    n_tiles, tile2 = size // tile, tile * tile
    grid = torch.arange(n_tiles, device=device, dtype=points.dtype) * tile
    tile_x, tile_y = grid.repeat(n_tiles), grid.repeat_interleave(n_tiles)  # (T,) tile origins
    off = torch.arange(tile, device=device, dtype=points.dtype)
    off_x, off_y = off.repeat(tile), off.repeat_interleave(tile)  # (tile^2,) pixel offsets in a tile

    with torch.no_grad():  # find each lit pixel's nearest segment
        column = tuple(p.detach().unsqueeze(1) for p in seg)  # (N, 1) each
        half = (tile - 1) / 2  # a tile's pixels lie within half * sqrt(2) of its centre
        radius = math.sqrt(reach2) + half * math.sqrt(2) + 1e-3
        near = _distance2(tile_x + half, tile_y + half, column) <= radius * radius  # (N, T)
        seg_idx, tile_idx = torch.nonzero(near, as_tuple=True)  # (segment, tile) pairs within reach
        d2 = _distance2(tile_x[tile_idx].unsqueeze(1) + off_x, tile_y[tile_idx].unsqueeze(1) + off_y,
                        tuple(p[seg_idx] for p in column))  # (pairs, tile^2)
        pixel = ((sketch_of[seg_idx] * tile_x.numel() + tile_idx) * tile2).unsqueeze(1) + torch.arange(
            tile2, device=device)
        nearest = torch.full((B * size * size,), reach2, dtype=d2.dtype, device=device)
        nearest = nearest.scatter_reduce(0, pixel.view(-1), d2.view(-1), reduce="amin")
        wins = (d2 == nearest[pixel]) & (d2 < reach2)
        winner = torch.full_like(nearest, -1, dtype=torch.long).scatter_reduce(
            0, pixel[wins], seg_idx.unsqueeze(1).expand_as(wins)[wins], reduce="amax")
        lit = torch.nonzero(winner >= 0).squeeze(1)
        winner = winner[lit]
        in_canvas = lit % (size * size)
        lit_tile, lit_off = in_canvas // tile2, in_canvas % tile2

    d2 = _distance2(tile_x[lit_tile] + off_x[lit_off], tile_y[lit_tile] + off_y[lit_off],
                    tuple(p[winner] for p in seg))
    floor = math.exp(-cutoff * cutoff / 2)
    val = ((torch.exp(d2 * (-0.5 / (sigma * sigma))) - floor) / (1 - floor)).clamp_min(0)
    out = torch.zeros(B * size * size, dtype=val.dtype, device=device).index_put((lit,), val)
    out = out.view(B, n_tiles, n_tiles, tile, tile).permute(0, 1, 3, 2, 4)
    return out.reshape(B, size, size)


def _segment_parts(ends: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(ax, ay, ux, uy, inv)`` of segments ``a + t u``, ``t in [0, 1]``, from ``(N, 2 ends, 2)``
    end points: start, direction and 1 / |u|^2 (0 for dots, so their ``t`` is 0), as separate
    components (faster than trailing pairs), with finite gradients for dots too."""
    ax, ay = ends[:, 0, 0], ends[:, 0, 1]
    ux, uy = ends[:, 1, 0] - ax, ends[:, 1, 1] - ay
    len2 = ux * ux + uy * uy
    is_seg = len2 > _DOT_EPS
    inv = torch.where(is_seg, 1 / torch.where(is_seg, len2, torch.ones_like(len2)), torch.zeros_like(len2))
    return ax, ay, ux, uy, inv


def _distance2(px: torch.Tensor, py: torch.Tensor, parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Squared distance from points ``(px, py)`` to segments ``parts`` (all broadcast together)."""
    ax, ay, ux, uy, inv = parts
    dx, dy = px - ax, py - ay
    t = ((dx * ux + dy * uy) * inv).clamp(0, 1)
    dx, dy = dx - t * ux, dy - t * uy
    return dx * dx + dy * dy


def render(batch, locations: torch.Tensor | None = None, **options) -> torch.Tensor:
    """``(B, 1, size, size)`` images of a :class:`benchmark.batch.StrokeBatch` with stroke start
    points ``locations`` (default the batch's own); ``options`` go to :func:`rasterise`."""
    return rasterise(batch.points(locations), batch.point_mask, **options).unsqueeze(1)


class RasterClassifier(EncoderModule):
    """Base of the image baselines: a sketch (with any stroke start points) is rendered by
    :func:`render` at ``image_size`` with line width ``line_sigma`` and classified by
    :meth:`classify`, so stroke location inversion differentiates through the rendering."""

    def __init__(self, num_classes: int, image_size: int, line_sigma: float):
        super().__init__(num_classes)
        self.render_options = {"size": int(image_size), "sigma": float(line_sigma)}

    def forward(self, batch) -> torch.Tensor:
        return self.forward_sli(batch, batch.locations)

    def forward_sli(self, prepared, locations: torch.Tensor) -> torch.Tensor:
        return self.classify(render(prepared, locations, **self.render_options))

    def classify(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Logits of rendered ``(B, 1, H, W)`` images."""
        raise NotImplementedError
