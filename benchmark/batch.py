"""The batch every encoder consumes: a sketch as padded stroke tensors.

A sketch arrives as a float32 array ``(n_points, 3)`` of absolute normalised coordinates
``(x, y, end_of_stroke)`` (the last point of every stroke has ``end_of_stroke = 1``), in drawing
order. :func:`collate` pads a list of them only to the batch's longest sketch (in strokes) and
longest stroke (in points).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: The reference implementation's limit on strokes per sketch.
MAX_STROKES = 196


@dataclass
class StrokeBatch:
    """Padded stroke tensors for ``B`` sketches of at most ``S`` strokes of at most ``P`` points.

    - ``offsets`` ``(B, S, P, 4)`` float: per point ``(dx, dy, p_draw, p_end)`` within its stroke,
      the first point's delta is ``(0, 0)``; ``p_end = 1`` on a stroke's last point and
      ``p_draw = 1`` on its other points; padding is all zeros.
    - ``point_mask`` ``(B, S, P)`` bool: real points.
    - ``locations`` ``(B, S, 2)`` float: each stroke's start point (absolute, normalised); the
      quantity stroke location inversion optimises. Zero on padded strokes.
    - ``stroke_mask`` ``(B, S)`` bool: real strokes.
    - ``order`` ``(B, S)`` long: each stroke's index in drawing order (0 on padding).
    - ``labels`` ``(B,)`` long; ``index`` ``(B,)`` long: each sketch's index in its split.
    - ``truncated_strokes`` / ``truncated_points``: how many strokes / points the collate dropped.
    """

    offsets: torch.Tensor
    point_mask: torch.Tensor
    locations: torch.Tensor
    stroke_mask: torch.Tensor
    order: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    truncated_strokes: int = 0
    truncated_points: int = 0

    @property
    def size(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_strokes(self) -> torch.Tensor:
        """``(B,)`` long: real strokes per sketch."""
        return self.stroke_mask.sum(1)

    def replace(self, **changes) -> "StrokeBatch":
        """A copy with some fields replaced (e.g. ``locations`` during SLI)."""
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> "StrokeBatch":
        return self.replace(**{f.name: getattr(self, f.name).to(device) for f in _TENSOR_FIELDS})

    def select(self, rows: torch.Tensor | slice) -> "StrokeBatch":
        """The sub-batch of the given rows (padding is kept)."""
        return self.replace(**{f.name: getattr(self, f.name)[rows] for f in _TENSOR_FIELDS})

    def points(self, locations: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, S, P, 2)`` absolute point coordinates, a differentiable function of ``locations``
        (default ``self.locations``). Padded points repeat their stroke's last real point."""
        loc = self.locations if locations is None else locations
        rel = torch.cumsum(self.offsets[..., :2], dim=2)
        return loc.unsqueeze(2) + rel


_TENSOR_FIELDS = [f for f in dataclasses.fields(StrokeBatch) if f.type == "torch.Tensor"]


def split_strokes(points: np.ndarray) -> list[np.ndarray]:
    """Split one sketch ``(n, 3)`` into its strokes, each ``(n_i, 2)`` absolute points."""
    ends = np.flatnonzero(points[:, 2] > 0.5) + 1
    return [s[:, :2] for s in np.split(points, ends) if len(s)]


def collate(
    sketches: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    indices: Sequence[int] | np.ndarray | None = None,
    max_strokes: int = MAX_STROKES,
    max_points: int | None = None,
) -> StrokeBatch:
    """Turn sketches (each ``(n_i, 3)`` float32 ``x, y, end_of_stroke``) into a :class:`StrokeBatch`.

    Strokes beyond ``max_strokes`` and points beyond ``max_points`` per stroke (keeping the first
    ones) are dropped and counted. Vectorised over all strokes of the batch.
    """
    n = len(sketches)
    if n == 0:
        raise ValueError("collate needs at least one sketch")
    lengths = np.fromiter((len(s) for s in sketches), dtype=np.int64, count=n)
    flat = np.concatenate(sketches).astype(np.float32, copy=False)
    sketch_of_point = np.repeat(np.arange(n), lengths)
    is_end = flat[:, 2] > 0.5
    # a sketch's last point always ends a stroke, whatever its flag says
    is_end[np.cumsum(lengths) - 1] = True
    stroke_end = np.flatnonzero(is_end)  # global index of each stroke's last point
    stroke_start = np.concatenate(([0], stroke_end[:-1] + 1))
    stroke_len = stroke_end - stroke_start + 1
    stroke_sketch = sketch_of_point[stroke_start]
    first_stroke = np.searchsorted(stroke_sketch, np.arange(n))
    stroke_rank = np.arange(len(stroke_start)) - first_stroke[stroke_sketch]

    keep = stroke_rank < max_strokes
    truncated_strokes = int((~keep).sum())
    stroke_start, stroke_len = stroke_start[keep], stroke_len[keep]
    stroke_sketch, stroke_rank = stroke_sketch[keep], stroke_rank[keep]
    kept_len = stroke_len if max_points is None else np.minimum(stroke_len, max_points)
    truncated_points = int((stroke_len - kept_len).sum())

    S = int(stroke_rank.max()) + 1
    P = int(kept_len.max())
    point_stroke = np.repeat(np.arange(len(kept_len)), kept_len)
    point_pos = np.arange(len(point_stroke)) - np.repeat(np.cumsum(kept_len) - kept_len, kept_len)
    src = stroke_start[point_stroke] + point_pos

    # one scatter per output through flat indices: cell (b, s) of a stroke, cell (b, s, p) of a point
    stroke_cell = stroke_sketch * S + stroke_rank
    point_cell = stroke_cell[point_stroke] * P + point_pos
    is_last = point_pos == kept_len[point_stroke] - 1
    xy = flat[src, :2]
    rows = np.empty((len(src), 4), dtype=np.float32)
    rows[0, :2] = 0
    rows[1:, :2] = xy[1:] - xy[:-1]  # kept points of a stroke are consecutive rows
    rows[point_pos == 0, :2] = 0
    rows[:, 2] = ~is_last
    rows[:, 3] = is_last
    feats = np.zeros((n * S * P, 4), dtype=np.float32)
    feats[point_cell] = rows
    point_mask = np.zeros(n * S * P, dtype=bool)
    point_mask[point_cell] = True
    locations = np.zeros((n * S, 2), dtype=np.float32)
    locations[stroke_cell] = flat[stroke_start, :2]
    stroke_mask = np.zeros(n * S, dtype=bool)
    stroke_mask[stroke_cell] = True
    order = np.zeros(n * S, dtype=np.int64)
    order[stroke_cell] = stroke_rank

    idx = np.arange(n) if indices is None else np.asarray(indices)
    return StrokeBatch(
        offsets=torch.from_numpy(feats.reshape(n, S, P, 4)),
        point_mask=torch.from_numpy(point_mask.reshape(n, S, P)),
        locations=torch.from_numpy(locations.reshape(n, S, 2)),
        stroke_mask=torch.from_numpy(stroke_mask.reshape(n, S)),
        order=torch.from_numpy(order.reshape(n, S)),
        labels=torch.as_tensor(np.asarray(labels), dtype=torch.long),
        index=torch.as_tensor(idx, dtype=torch.long),
        truncated_strokes=truncated_strokes,
        truncated_points=truncated_points,
    )


def padding_chunks(sorted_counts: np.ndarray, overhead_tokens: int) -> list[np.ndarray]:
    """Split sketches sorted by stroke count into consecutive chunks minimising the total work,
    counted as padded tokens (``len(chunk) * (longest + 1)``) plus ``overhead_tokens`` per chunk
    (the fixed cost of a step, in tokens). Dynamic programming over the split points."""
    c = np.asarray(sorted_counts, dtype=np.int64)
    n = len(c)
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        i = np.arange(j)
        cost = best[:j] + (j - i) * (c[j - 1] + 1) + overhead_tokens
        cut[j] = int(np.argmin(cost))
        best[j] = cost[cut[j]]
    chunks, j = [], n
    while j > 0:
        chunks.append(np.arange(cut[j], j))
        j = cut[j]
    return chunks[::-1]


def reversal_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``(N, steps)`` long index reversing each right-padded sequence within its own length
    (``lengths`` ``(N,)``): real step ``t`` maps to ``length - 1 - t``, padded steps stay in
    place, so gathering with it never moves padding into real steps (an involution)."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    length = lengths.unsqueeze(1)
    return torch.where(t < length, length - 1 - t, t)
