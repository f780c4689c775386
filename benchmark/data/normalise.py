"""Coordinate normalisation (as the published SketchXAI reference) and raw-drawing simplification
(as Google made QuickDraw's *simplified* files).

Normalisation: translate by the bounding-box minimum, divide by the longer side, multiply by 0.74,
centre the box on 0.5, then map ``v -> 2v - 1``: the longer side spans ``[-0.74, 0.74]``, the aspect
ratio is kept, y is not flipped. A drawing whose bounding box has a squared diagonal below 1e-8 is
degenerate and dropped.
"""

from __future__ import annotations

import numpy as np

SCALE = 0.74
CENTRE = 0.5
DEGENERATE_DIAG2 = 1e-8
#: Stored in every prepared file, so a reader can check its coordinates' meaning.
NORMALISATION = {
    "method": "sketchxai-reference",
    "steps": "translate by bbox min; divide by longer side; *0.74; centre box on 0.5; v -> 2v-1",
    "scale": SCALE, "centre": CENTRE, "degenerate_squared_diagonal": DEGENERATE_DIAG2,
    "y_flipped": False,
}
#: Google's simplification of raw drawings.
RDP_EPSILON = 2.0
SIMPLIFIED_MAX = 255.0


def is_degenerate(xy: np.ndarray) -> bool:
    """Whether the bounding box of ``xy`` ``(n, 2)`` has a squared diagonal below 1e-8."""
    size = xy.max(0) - xy.min(0)
    return float(size @ size) < DEGENERATE_DIAG2


def normalise(xy: np.ndarray) -> np.ndarray:
    """``(n, 2)`` float32 normalised coordinates of ``xy`` (any numeric dtype, not degenerate)."""
    xy = np.asarray(xy, dtype=np.float64)
    lo = xy.min(0)
    size = xy.max(0) - lo
    longer = size.max()
    v = (xy - lo) / longer * SCALE
    v += CENTRE - size / longer * SCALE / 2
    return (2 * v - 1).astype(np.float32)


def normalised_sketch(points: np.ndarray) -> np.ndarray:
    """``(n, 3)`` float32 sketch: :func:`normalise`d ``x, y`` of ``points`` and its end-of-stroke column."""
    out = np.empty(points.shape, dtype=np.float32)
    out[:, :2] = normalise(points[:, :2])
    out[:, 2] = points[:, 2]
    return out


def resample(stroke: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points every ``spacing`` units of arc length along a polyline ``(n, 2)``, plus its end."""
    if len(stroke) < 2:
        return stroke
    arc = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))))
    if arc[-1] == 0:
        return stroke[:1]
    t = np.append(np.arange(0.0, arc[-1], spacing), arc[-1])
    return np.stack([np.interp(t, arc, stroke[:, 0]), np.interp(t, arc, stroke[:, 1])], 1)


def rdp(stroke: np.ndarray, epsilon: float = RDP_EPSILON) -> np.ndarray:
    """Indices of the points Ramer-Douglas-Peucker keeps (distance to the chord's line)."""
    n = len(stroke)
    keep = np.zeros(n, dtype=bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        chord = stroke[b] - stroke[a]
        rel = stroke[a + 1:b] - stroke[a]
        length = np.hypot(*chord)
        dist = (np.abs(chord[0] * rel[:, 1] - chord[1] * rel[:, 0]) / length if length > 0
                else np.hypot(rel[:, 0], rel[:, 1]))
        i = int(np.argmax(dist))
        if dist[i] > epsilon:
            k = a + 1 + i
            keep[k] = True
            stack += [(a, k), (k, b)]
    return np.flatnonzero(keep)


def simplify_raw(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Google's simplification of raw strokes (each ``(n, 2)`` float): align to the top-left at 0,
    scale uniformly to a maximum of 255, resample at 1-unit spacing, RDP with epsilon 2.0, round.

    Returns int32 strokes. On the QuickDraw sample this reproduces 86% of Google's simplified
    drawings exactly and the rest within a pixel or so. The drawing must not be degenerate.
    """
    lo = np.min([s.min(0) for s in strokes], axis=0)
    strokes = [s - lo for s in strokes]
    scale = SIMPLIFIED_MAX / max(float(s.max()) for s in strokes)
    out = []
    for s in strokes:
        dense = resample(s * scale)
        out.append(np.rint(dense[rdp(dense)]).astype(np.int32))
    return out


def simplify_raw_many(xy: np.ndarray, stroke_lengths: np.ndarray, strokes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`simplify_raw` of many drawings at once, the same operations element by element (so
    the same integers): ``xy`` ``(N, 2)`` float64 the drawings' points back to back (none
    degenerate), ``stroke_lengths`` points a stroke, ``strokes`` strokes a drawing. Returns the
    simplified points ``(M, 2)`` int32 and the points of each simplified stroke."""
    stroke_lengths = np.asarray(stroke_lengths, np.int64)
    drawing_points = np.add.reduceat(stroke_lengths, np.cumsum(strokes) - strokes)
    starts = np.cumsum(drawing_points) - drawing_points
    per_point = np.repeat(np.arange(len(strokes)), drawing_points)
    shifted = xy - np.minimum.reduceat(xy, starts, axis=0)[per_point]
    scale = SIMPLIFIED_MAX / np.maximum.reduceat(shifted.max(1), starts)
    scaled = shifted * scale[per_point, None]
    dense, dense_lengths = _resample_many(scaled, stroke_lengths)
    keep = _rdp_many(dense, dense_lengths, RDP_EPSILON)
    stroke_of = np.repeat(np.arange(len(dense_lengths)), dense_lengths)
    return np.rint(dense[keep]).astype(np.int32), np.bincount(stroke_of[keep], minlength=len(dense_lengths))


def _row_cumsum(values: np.ndarray, lengths: np.ndarray, cells: int = 1 << 20) -> np.ndarray:
    """Running sums of ``values`` restarting at every row (``lengths`` values each), each row summed
    in order as ``np.cumsum`` of that row alone; rows are padded in groups of similar length of at
    most ``cells`` entries, so memory stays small."""
    out = np.empty(len(values))
    starts = np.cumsum(lengths) - lengths
    order = np.argsort(lengths, kind="stable")
    first = 0
    while first < len(order):
        width = max(1, int(lengths[order[min(len(order) - 1, first + max(1, cells // max(1, int(lengths[order[first]]))) - 1)]]))
        last = first + max(1, cells // width)
        rows = order[first:last]
        rows = rows[lengths[rows] <= width] if lengths[rows[-1]] > width else rows
        width = max(1, int(lengths[rows].max()))
        mask = np.arange(width)[None, :] < lengths[rows][:, None]
        index = (starts[rows][:, None] + np.arange(width)[None, :])[mask]
        padded = np.zeros(mask.shape)
        padded[mask] = values[index]
        out[index] = np.cumsum(padded, axis=1)[mask]
        first += len(rows)
    return out


def _resample_many(points: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resample` (spacing 1) of every stroke of ``points`` (``lengths`` points each)."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    step = np.zeros(len(points))
    step[1:] = np.hypot(*np.diff(points, axis=0).T)
    step[starts] = 0.0  # arc: 0 at a stroke's first point, then the running length
    arc = _row_cumsum(step, lengths)
    total = arc[ends - 1]
    # samples a stroke: arange(0, total) and total; a one-point stroke keeps it, a zero-length one its first
    count = np.where(lengths < 2, lengths, np.where(total == 0, 1, np.ceil(total).astype(np.int64) + 1))
    stroke = np.repeat(np.arange(len(lengths)), count)
    index = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    t = np.where(index == count[stroke] - 1, total[stroke], index.astype(np.float64))
    out = np.empty((len(t), 2))
    plain = (lengths < 2)[stroke] | (total == 0)[stroke]
    out[plain] = points[starts[stroke[plain]] + index[plain]]
    s, x = stroke[~plain], t[~plain]
    # np.interp: j, the last knot with arc[j] <= x (knots sorted before samples of equal value)
    knot_stroke = np.repeat(np.arange(len(lengths)), lengths)
    order = np.lexsort((np.r_[np.zeros(len(arc)), np.ones(len(x))], np.r_[arc, x], np.r_[knot_stroke, s]))
    knots_so_far = np.cumsum(order < len(arc))
    where = np.empty(len(order), dtype=np.int64)
    where[order] = np.arange(len(order))
    j = knots_so_far[where[len(arc):]] - 1
    last = ends[s] - 1
    at_knot = (arc[j] == x) | (j == last)
    nxt = np.minimum(j + 1, last)
    a, b = arc[j], arc[nxt]
    for c in range(2):
        ya, yb = points[j, c], points[nxt, c]
        with np.errstate(invalid="ignore", divide="ignore"):
            value = (yb - ya) / (b - a) * (x - a) + ya
        out[~plain, c] = np.where(at_knot, ya, value)
    return out, count


def _rdp_many(points: np.ndarray, lengths: np.ndarray, epsilon: float) -> np.ndarray:
    """:func:`rdp` of every stroke at once (one level of the recursion a pass): the kept mask."""
    ends = np.cumsum(lengths)
    keep = np.zeros(len(points), dtype=bool)
    keep[ends - lengths] = True
    keep[ends - 1] = True
    a, b = ends - lengths, ends - 1
    while True:
        live = b - a >= 2
        a, b = a[live], b[live]
        if not len(a):
            return keep
        inner = b - a - 1
        seg = np.repeat(np.arange(len(a)), inner)
        idx = np.arange(int(inner.sum())) - np.repeat(np.cumsum(inner) - inner, inner) + a[seg] + 1
        chord = points[b] - points[a]
        rel = points[idx] - points[a][seg]
        length = np.hypot(chord[:, 0], chord[:, 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = np.abs(chord[seg, 0] * rel[:, 1] - chord[seg, 1] * rel[:, 0]) / length[seg]
        dist = np.where(length[seg] > 0, dist, np.hypot(rel[:, 0], rel[:, 1]))
        first = np.cumsum(inner) - inner
        best = np.maximum.reduceat(dist, first)
        # the first index of each segment's maximum, as np.argmax
        hit = np.flatnonzero(dist == best[seg])
        k = idx[hit[np.searchsorted(hit, first)]]
        split = best > epsilon
        keep[k[split]] = True
        a, b = np.concatenate([a[split], k[split]]), np.concatenate([k[split], b[split]])
