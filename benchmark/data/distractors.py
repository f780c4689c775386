"""Distractor strokes that look like evidence: the ground truth of ``stroke_pointing``.

A pointing score means something only if the evidence/distractor labels cannot be recovered from
the strokes alone. So a distractor is not drawn from a distribution of its own (short, small,
anywhere on the canvas: a stroke-length heuristic separated those at AUROC 0.94): it is a real
stroke of another sketch of the same split, kept where it sits in that sketch (every sketch shares
the normalised frame, so it lands over the drawing, where strokes of that kind sit), and inserted
at a uniform position in the drawing order. Its donor sketch is drawn uniformly from the whole
split (every class, the host's own included, in proportion to the data), so the donor's class is
independent of the host's label: a classifier that sees only the distractor strokes is at chance.
Length, size, point count and placement follow the data's own stroke distribution.

Deterministic: sketch ``i``'s donors, strokes and positions come from a generator seeded by
``(seed, stream, i)``, so a split's distractors do not depend on batching, process count or on
which other sketches are evaluated. The evidence strokes are left exactly as they were.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmark.data.sketches import SketchSplit

#: Bump whenever the distractors drawn for the same data and seed change.
VERSION = 2
#: Column of the end-of-stroke flag in a sketch array.
END = 2
_STREAM = 7


def strokes_of(sketch: np.ndarray) -> list[np.ndarray]:
    """A sketch's strokes (views), split after every end-of-stroke point."""
    ends = np.flatnonzero(sketch[:, END] > 0.5)
    return np.split(sketch, ends[:-1] + 1) if len(ends) else []


def insert_distractors(sketches: Sequence[np.ndarray], per_sketch: int, seed: int | Sequence[int]
                       ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every sketch (``(n, C)`` arrays, column 2 end-of-stroke, any further columns carried along)
    with ``per_sketch`` donor strokes inserted (see the module docstring), and its per-stroke labels
    (int8, 1 = evidence, 0 = distractor, in the new drawing order). Needs at least two sketches."""
    if len(sketches) < 2:
        raise ValueError("distractors need at least two sketches (a donor other than the host)")
    base = [int(s) for s in np.atleast_1d(seed)]
    split_strokes = [strokes_of(s) for s in sketches]
    out, labels = [], []
    for i, strokes in enumerate(split_strokes):
        rng = np.random.default_rng([*base, _STREAM, i])
        strokes, marks = list(strokes), [1] * len(strokes)
        for _ in range(per_sketch):
            donor = int(rng.integers(len(sketches) - 1))
            donor += donor >= i  # any sketch but the host itself
            pool = split_strokes[donor]
            at = int(rng.integers(len(strokes) + 1))
            strokes.insert(at, pool[int(rng.integers(len(pool)))])
            marks.insert(at, 0)
        out.append(np.concatenate(strokes) if strokes else sketches[i][:0])
        labels.append(np.asarray(marks, dtype=np.int8))
    return out, labels


def with_distractors(split: SketchSplit, per_sketch: int, seed: int | Sequence[int]) -> SketchSplit:
    """A pointing split: ``split``'s sketches with ``per_sketch`` distractors each and per-stroke
    labels (in memory; ``split`` is not changed)."""
    sketches, labels = insert_distractors(split.get(range(len(split))), per_sketch, seed)
    out = SketchSplit.from_sketches(split.name, sketches, split.labels, split.key_ids)
    out.stroke_labels = np.concatenate(labels) if labels else np.zeros(0, np.int8)
    return out
