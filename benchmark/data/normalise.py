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
    scale = SIMPLIFIED_MAX / np.maximum.reduceat(np.maximum(shifted[:, 0], shifted[:, 1]), starts)
    scaled = shifted * scale[per_point, None]
    dense_x, dense_y, dense_lengths = _resample_many(scaled, stroke_lengths)
    keep = _rdp_many(dense_x, dense_y, dense_lengths, RDP_EPSILON)
    stroke_of = np.repeat(np.arange(len(dense_lengths)), dense_lengths)
    kept = np.stack([dense_x[keep], dense_y[keep]], 1)
    return np.rint(kept).astype(np.int32), np.bincount(stroke_of[keep], minlength=len(dense_lengths))


def _row_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Running sums of ``values`` restarting at every row (``lengths`` values each), each row summed
    in order as ``np.cumsum`` of that row alone.

    The rows are laid out column after column, longest first (column ``c`` holds the rows longer
    than ``c``), so each column adds the previous one's leading slice in place: one vector add a
    column, ``max(lengths)`` in all, and no padding."""
    order = np.argsort(-lengths, kind="stable")
    if not len(order) or lengths[order[0]] == 0:
        return np.zeros(len(values))
    width = int(lengths[order[0]])
    rows = len(lengths) - np.cumsum(np.bincount(lengths, minlength=width))[:width]  # rows longer than c
    colstart = np.cumsum(rows) - rows
    src = ((np.cumsum(lengths) - lengths)[order][np.arange(int(rows.sum())) - np.repeat(colstart, rows)]
           + np.repeat(np.arange(width), rows))
    flat = values[src]
    for prev, start, n in zip(colstart[:-1].tolist(), colstart[1:].tolist(), rows[1:].tolist()):
        flat[start:start + n] += flat[prev:prev + n]  # x + y == y + x exactly, so as np.cumsum
    out = np.empty(len(values))
    out[src] = flat
    return out


def _resample_many(points: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`resample` (spacing 1) of every stroke of ``points`` (``lengths`` points each), the
    same operations as its ``np.interp`` element by element: the samples' x and y (two
    contiguous arrays, as :func:`_rdp_many` reads them) and the samples a stroke.

    Sample ``i`` of a stroke sits at arc length ``i`` (its last at the stroke's end, a knot).
    ``np.interp`` takes the last knot ``j`` with ``arc[j] <= i``; for an integer ``i`` that is the
    number of the stroke's knots with ``ceil(arc) <= i``, minus one, so one ``bincount`` of every
    knot into the sample slot ``ceil(arc)`` of its stroke, summed, gives ``j`` for all samples of
    all strokes at once (the knots of earlier strokes are counted in full before a stroke's first
    slot). No sort, linear in the points.
    """
    ends = np.cumsum(lengths)
    starts = ends - lengths
    px, py = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    step = np.zeros(len(points))
    step[1:] = np.hypot(np.diff(px), np.diff(py))
    step[starts] = 0.0  # arc: 0 at a stroke's first point, then the running length
    arc = _row_cumsum(step, lengths)
    total = arc[ends - 1]
    # samples a stroke: arange(0, total) and total; a one-point stroke keeps it, a zero-length one
    # its first point (all its points are that point)
    count = np.where(lengths < 2, lengths, np.where(total == 0, 1, np.ceil(total).astype(np.int64) + 1))
    n = int(count.sum())
    first = np.cumsum(count) - count
    slot = np.repeat(first, lengths) + np.ceil(arc).astype(np.int64)
    j = np.cumsum(np.bincount(slot, minlength=n)) - 1
    x = (np.arange(n) - np.repeat(first, count)).astype(np.float64)
    # a knot's piece: its slope to the next knot of its stroke (np.interp's (yb - ya) / (b - a),
    # the same for every sample of the piece, so computed once a knot; a stroke's last knot has
    # none, its samples are the knot itself)
    at_end = np.zeros(len(points), dtype=bool)
    at_end[ends[lengths > 0] - 1] = True
    nxt = np.arange(1, len(points) + 1) - at_end
    a = arc[j]
    at_knot = (a == x) | at_end[j]
    offset = x - a
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        span = arc[nxt] - arc
        for p in (px, py):
            ya = p[j]
            value = ((p[nxt] - p) / span)[j] * offset + ya
            value[at_knot] = ya[at_knot]
            out.append(value)
    return out[0], out[1], count


def _rdp_many(px: np.ndarray, py: np.ndarray, lengths: np.ndarray, epsilon: float) -> np.ndarray:
    """:func:`rdp` of every stroke of the points ``px, py`` (``lengths`` points each) at once (one
    level of the recursion a pass): the kept mask.

    Each pass works on the inner points of the live segments, back to back, with one-dimensional
    arrays (per-segment values spread with ``np.repeat``, not gathered through 2-D indices)."""
    ends = np.cumsum(lengths)
    keep = np.zeros(len(px), dtype=bool)
    keep[ends - lengths] = True
    keep[ends - 1] = True
    a, b = ends - lengths, ends - 1
    while True:
        live = b - a >= 2
        a, b = a[live], b[live]
        if not len(a):
            return keep
        inner = b - a - 1
        first = np.cumsum(inner) - inner
        step = np.ones(int(first[-1] + inner[-1]), dtype=np.int64)  # idx: a+1 .. b-1 of each segment
        step[0] = a[0] + 1
        step[first[1:]] = a[1:] + 1 - (b[:-1] - 1)
        idx = np.cumsum(step)
        ax, ay = px[a], py[a]
        cx, cy = px[b] - ax, py[b] - ay
        length = np.hypot(cx, cy)
        rx = px[idx] - np.repeat(ax, inner)
        ry = py[idx] - np.repeat(ay, inner)
        dist = np.repeat(cx, inner) * ry
        dist -= np.repeat(cy, inner) * rx
        np.abs(dist, out=dist)
        with np.errstate(invalid="ignore", divide="ignore"):
            dist /= np.repeat(length, inner)
        if (zero := length == 0).any():  # a closed chord: the distance to its point
            at = np.repeat(zero, inner)
            dist[at] = np.hypot(rx[at], ry[at])
        best = np.maximum.reduceat(dist, first)
        # the first index of each segment's maximum, as np.argmax
        hit = np.flatnonzero(dist == np.repeat(best, inner))
        k = idx[hit[np.searchsorted(hit, first)]]
        split = best > epsilon
        keep[k[split]] = True
        a, b = np.concatenate([a[split], k[split]]), np.concatenate([k[split], b[split]])
