"""Pictures and curves of the attribution tasks: a thumbnail strip (SVG) of sketches with strokes
coloured by importance, mean curves and the pointing ROC with seeded bootstrap intervals in the
record contract (``extra["curves"]``: ``{x, y, lo, hi, x_label, y_label, title}``, optional
``caption`` and ``reference``)."""

from __future__ import annotations

import html

import numpy as np

from benchmark import stats
from benchmark.batch import split_strokes

THUMBNAILS = "thumbnails.svg"
_CELL, _PAD = 100, 8
_LOW, _HIGH = np.array([59, 76, 192]), np.array([180, 4, 38])  # blue (least) to red (most important)
#: Points of the common grid that per-sketch curves of different lengths are interpolated onto.
GRID = 21


def _colour(t: float) -> str:
    r, g, b = (_LOW + (_HIGH - _LOW) * float(t)).astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


def thumbnail_strip(sketches: list[np.ndarray], scores: list[list[float]], labels: list, titles: list[str],
                    caption: str) -> str:
    """An SVG strip (height 120, at most 720 wide) of up to 7 sketches, each stroke coloured by its
    score (min-max within the sketch); strokes labelled 0 (distractors) are dashed."""
    sketches = sketches[:7]
    width, height = len(sketches) * _CELL, _CELL + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="9">',
             f"<title>{html.escape(caption)}</title>"]
    for i, (points, s, lab, title) in enumerate(zip(sketches, scores, labels, titles)):
        strokes = split_strokes(np.asarray(points))[:len(s)]
        allxy = np.concatenate(strokes)
        lo, span = allxy.min(0), max(float(np.ptp(allxy, 0).max()), 1e-6)
        s = np.asarray(s, dtype=np.float64)
        t = (s - s.min()) / (np.ptp(s) or 1.0)
        x0 = i * _CELL + _PAD
        for k, stroke in enumerate(strokes):
            xy = (stroke - lo) / span * (_CELL - 2 * _PAD)
            path = " ".join(f"{x0 + x:.1f},{_PAD + y:.1f}" for x, y in xy)
            dash = ' stroke-dasharray="3,2"' if lab is not None and int(lab[k]) == 0 else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{_colour(t[k])}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{i * _CELL + _CELL / 2}" y="{_CELL + 12}" text-anchor="middle">'
                     f"{html.escape(title[:22])}</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def mean_curve(curves: list[list[float]], seed: int, x_label: str, y_label: str, title: str,
               grid: bool = True) -> dict:
    """The mean of per-sketch curves with 95% bootstrap intervals. With ``grid`` each curve (its
    points at ``x = k / n``) is interpolated onto :data:`GRID` points of ``[0, 1]``; otherwise the
    curves share their steps (``x = 1..len``)."""
    if grid:
        x = np.linspace(0.0, 1.0, GRID)
        table = np.array([np.interp(x, np.linspace(0.0, 1.0, len(c)), np.asarray(c, dtype=np.float64))
                          for c in curves])
    else:
        table = np.array([[np.nan if v is None else v for v in c] for c in curves], dtype=np.float64)
        x = np.arange(1, table.shape[1] + 1, dtype=np.float64)
    values = [stats.mean(table[:, j], seed=seed) for j in range(table.shape[1])]
    return {"x": x.tolist(), "y": [_num(v.value) for v in values], "lo": [_num(v.ci_low) for v in values],
            "hi": [_num(v.ci_high) for v in values], "x_label": x_label, "y_label": y_label, "title": title}


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def roc_points(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ROC of ``scores`` for ``positive`` (bool; both classes present) vs the rest: false and
    true positive rates at each distinct score, highest first, from (0, 0) to (1, 1); strokes of one
    score enter together (a diagonal step), so the area under the path is the AUROC, ties 1/2."""
    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]  # the end of each run of one score
    tp, fp = np.cumsum(positive)[last], np.cumsum(~positive)[last]
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def roc_at(fpr: np.ndarray, tpr: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The true positive rate of the ROC path at each false positive rate of ``grid``: on a vertical
    step the top of it, between two points the straight line joining them."""
    out = np.empty(len(grid))
    for j, g in enumerate(grid):
        i = int(np.searchsorted(fpr, g, side="right")) - 1
        if fpr[i] == g or i + 1 == len(fpr):
            out[j] = tpr[i]
        else:
            out[j] = tpr[i] + (tpr[i + 1] - tpr[i]) * (g - fpr[i]) / (fpr[i + 1] - fpr[i])
    return out


def mean_roc(sketches: list[tuple[list[float], list[int]]], seed: int, title: str) -> dict | None:
    """The pointing ROC of ``(stroke scores, evidence labels)`` per sketch, averaged over the
    sketches (vertical averaging: each sketch's true positive rate at :data:`GRID` false positive
    rates of ``[0, 1]``, the mean with its 95% bootstrap interval; not pooled, as the scores of
    different sketches are not on one scale), the chance diagonal as its reference. Sketches
    without both evidence and distractor strokes are left out; ``None`` when none is left."""
    x = np.linspace(0.0, 1.0, GRID)
    table = np.array([roc_at(*roc_points(s, np.asarray(e) == 1), x) for s, e in sketches if 0 < sum(e) < len(e)])
    if not len(table):
        return None
    values = [stats.mean(column, seed=seed) for column in table.T]
    return {"x": x.tolist(), "y": [_num(v.value) for v in values], "lo": [_num(v.ci_low) for v in values],
            "hi": [_num(v.ci_high) for v in values], "x_label": "false positive rate (distractor strokes)",
            "y_label": "true positive rate (evidence strokes)", "title": title,
            "caption": f"Each sketch's ROC of its stroke scores (evidence vs distractor strokes), the true positive "
                       f"rate averaged over {len(table)} sketches at {GRID} false positive rates, not pooled; "
                       f"band: 95% bootstrap interval; dashed: chance.",
            "reference": {"x": [0.0, 1.0], "y": [0.0, 1.0], "label": "chance"}}
