"""The built-in demo dataset: procedurally drawn, synthetic doodles (not human drawings).

Twelve classes built from a few shared stroke shapes (circles, dots, lines, rectangles,
triangles, arcs); several come in pairs with the *same strokes in different arrangements*
(face / inverted face, house / roof beside walls, snowman / caterpillar, flag / signpost), so a
classifier must use where strokes sit relative to each other and stroke location inversion (SLI)
on them means something; the ground-truth layout of every sketch is the generated one.

Shapes, positions, sizes, stroke order and direction and the number of points per stroke are
jittered with a seeded RNG: the data is a pure function of (generator version, seed, sizes).
Each (seed, split, class) has its own random stream, so larger sizes only append sketches.
Generated data is cached as a prepared ``.h5`` (same layout as ``bench data prepare``) under
``$BENCH_CACHE_DIR`` (default ``~/.cache/sketchxai-bench``), written atomically.

With ``distractors = k > 0`` (dataset ``demo_distractors``) every sketch also gets ``k`` strokes
of other sketches of its split, kept where they sit in their own drawing and inserted at random
places in the drawing order (:mod:`benchmark.data.distractors`: the donors' classes are independent
of the host's label), and the file stores a per-stroke label (1 = evidence, 0 = distractor;
``stroke_labels`` in :mod:`benchmark.data.h5store`). The class strokes are the plain demo's,
unchanged, and the plain demo (``k = 0``) is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmark.data.distractors import VERSION as DISTRACTORS_VERSION, insert_distractors
from benchmark.data.formats import strokes_to_points
from benchmark.data.h5store import SPLITS, H5Writer, open_h5
from benchmark.data.normalise import NORMALISATION, SIMPLIFIED_MAX, normalised_sketch
from benchmark.data.sketches import SketchData
from benchmark.errors import BenchError

#: Bump whenever the generated sketches change (it is part of the cache file name).
GENERATOR_VERSION = 1
DEFAULT_SIZES = {"train": 160, "valid": 40, "test": 50}

Stroke = np.ndarray  # (n, 2) float, canvas units (y down, as QuickDraw)


def _circle(rng, cx: float, cy: float, r: float, n_range=(10, 25)) -> Stroke:
    n = int(rng.integers(*n_range))
    t = rng.uniform(0, 2 * np.pi) + rng.choice((-1, 1)) * np.linspace(0, 2 * np.pi, n)
    rr = r * (1 + rng.normal(0, 0.03, n))
    pts = np.stack([cx + rr * np.cos(t), cy + rr * np.sin(t)], 1)
    pts[-1] = pts[0]
    return pts


def _dot(rng, cx: float, cy: float, r: float = 7) -> Stroke:
    return _circle(rng, cx, cy, r, (5, 9))


def _line(rng, x0: float, y0: float, x1: float, y1: float) -> Stroke:
    t = np.linspace(0, 1, int(rng.integers(2, 7)))[:, None]
    pts = np.array([x0, y0]) + t * np.array([x1 - x0, y1 - y0])
    pts[1:-1] += rng.normal(0, 1.0, pts[1:-1].shape)
    return pts


def _polygon(rng, corners: list[tuple[float, float]]) -> Stroke:
    k = int(rng.integers(len(corners)))
    corners = np.array(corners[k:] + corners[:k] + corners[k:k + 1], dtype=float)
    pts = []
    for a, b in zip(corners[:-1], corners[1:]):
        n = int(rng.integers(1, 4))
        pts.append(a + np.linspace(0, 1, n, endpoint=False)[:, None] * (b - a))
    pts.append(corners[-1:])
    return np.concatenate(pts)


def _rect(rng, x0: float, y0: float, x1: float, y1: float) -> Stroke:
    return _polygon(rng, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _arc(rng, cx: float, cy: float, w: float, h: float) -> Stroke:
    """A smile: the lower half of an ellipse (y grows downwards)."""
    t = np.linspace(0.1 * np.pi, 0.9 * np.pi, int(rng.integers(6, 13)))
    return np.stack([cx + w / 2 * np.cos(t), cy + h * np.sin(t)], 1)


def _face(rng, eyes_y: float, mouth_y: float) -> list[Stroke]:
    return [_circle(rng, 128, 128, 90), _dot(rng, 95, eyes_y), _dot(rng, 161, eyes_y),
            _arc(rng, 128, mouth_y, 70, 25)]


def _ladder(rng) -> list[Stroke]:
    rungs = int(rng.integers(3, 6))
    ys = np.linspace(20, 236, rungs + 2)[1:-1]
    return [_line(rng, 88, 20, 88, 236), _line(rng, 168, 20, 168, 236),
            *(_line(rng, 88, y, 168, y) for y in ys)]


#: name -> (one-line layout description, generator of strokes in natural drawing order)
CLASSES: dict[str, tuple[str, Callable[[np.random.Generator], list[Stroke]]]] = {
    "face": ("head circle, two eye dots above a smile arc", lambda r: _face(r, 100, 150)),
    "inverted face": ("head circle, the smile arc above two eye dots", lambda r: _face(r, 160, 80)),
    "house": ("triangle roof on top of rectangle walls",
              lambda r: [_rect(r, 68, 120, 188, 220), _polygon(r, [(58, 120), (198, 120), (128, 40)])]),
    "roof beside walls": ("triangle roof to the right of rectangle walls",
                          lambda r: [_rect(r, 10, 120, 130, 220),
                                     _polygon(r, [(140, 220), (280, 220), (210, 140)])]),
    "snowman": ("three circles stacked, largest at the bottom",
                lambda r: [_circle(r, 128, 190, 50), _circle(r, 128, 108, 35), _circle(r, 128, 52, 22)]),
    "caterpillar": ("the snowman's three circles in a row, largest on the left",
                    lambda r: [_circle(r, 60, 150, 50), _circle(r, 145, 165, 35), _circle(r, 202, 178, 22)]),
    "traffic light": ("tall rectangle with three small circles stacked inside",
                      lambda r: [_rect(r, 98, 20, 158, 236), _circle(r, 128, 62, 18),
                                 _circle(r, 128, 128, 18), _circle(r, 128, 194, 18)]),
    "ladder": ("two vertical rails with 3-5 horizontal rungs between them", _ladder),
    "flag": ("vertical pole with a rectangle at its top right",
             lambda r: [_line(r, 80, 20, 80, 236), _rect(r, 80, 20, 190, 90)]),
    "signpost": ("the flag's rectangle centred on top of its pole",
                 lambda r: [_line(r, 128, 90, 128, 306), _rect(r, 73, 20, 183, 90)]),
    "lollipop": ("circle on top of a vertical stick",
                 lambda r: [_line(r, 128, 110, 128, 236), _circle(r, 128, 65, 45)]),
    "ice cream": ("circle on top of a downward triangle",
                  lambda r: [_polygon(r, [(83, 110), (173, 110), (128, 236)]), _circle(r, 128, 65, 45)]),
}


def _jitter(rng, strokes: list[Stroke]) -> list[Stroke]:
    """Move and resize each stroke a little, then rotate, stretch and reorder the whole drawing."""
    out = []
    for s in strokes:
        centre = s.mean(0)
        out.append(centre + rng.normal(0, 4, 2) + (s - centre) * rng.uniform(0.9, 1.1))
    angle = np.deg2rad(rng.uniform(-8, 8))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    stretch = rng.uniform(0.9, 1.1, 2)
    out = [((s - 128) @ rot.T) * stretch + 128 for s in out]
    out = [s[::-1] if rng.random() < 0.3 else s for s in out]
    order = np.arange(len(out))
    if rng.random() < 0.15:
        order = rng.permutation(len(out))
    elif rng.random() < 0.5:
        i = int(rng.integers(len(out) - 1))
        order[[i, i + 1]] = order[[i + 1, i]]
    return [out[i] for i in order]


def draw(name: str, rng: np.random.Generator) -> np.ndarray:
    """One sketch of class ``name``: ``(n, 3)`` int32 x, y (0..255, as QuickDraw's simplified
    files) and end-of-stroke."""
    strokes = _jitter(rng, CLASSES[name][1](rng))
    lo = np.min([s.min(0) for s in strokes], axis=0)
    scale = SIMPLIFIED_MAX / max(float((s - lo).max()) for s in strokes)
    return strokes_to_points([np.rint((s - lo) * scale).astype(np.int32) for s in strokes])


def cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "sketchxai-bench")


def dataset_name(distractors: int) -> str:
    return "demo_distractors" if distractors else "demo"


def cache_path(seed: int, sizes: dict[str, int], distractors: int = 0) -> Path:
    dims = "-".join(f"{s}{sizes[s]}" for s in SPLITS)
    extra = f"-distractors{distractors}v{DISTRACTORS_VERSION}" if distractors else ""
    return cache_dir() / f"demo-v{GENERATOR_VERSION}-seed{seed}-{dims}{extra}.h5"


def generate(out: Path, seed: int, sizes: dict[str, int], distractors: int = 0) -> str:
    """Write the demo dataset (with ``distractors`` per sketch) to ``out`` (atomically); returns its
    content checksum."""
    names = list(CLASSES)
    with H5Writer(out, names) as writer:
        for split_index, split in enumerate(SPLITS):
            drawn = []  # (normalised x, y, end-of-stroke, source x, y), label, key
            for label, name in enumerate(names):
                rng = np.random.default_rng([seed, split_index, label])
                for i in range(sizes[split]):
                    points = draw(name, rng)
                    drawn.append((np.hstack([normalised_sketch(points), points[:, :2]]), label,
                                  f"demo/{split}/{name}/{i}"))
            sketches, strokes = [d[0] for d in drawn], [None] * len(drawn)
            if distractors and len(drawn) > 1:
                sketches, strokes = insert_distractors(sketches, distractors, [seed, split_index])
            for sketch, (_, label, key), marks in zip(sketches, drawn, strokes):
                writer.add(split, sketch[:, :3].astype(np.float32), sketch[:, 3:].astype(np.int32), label, key,
                           stroke_labels=marks)
        source = {"format": "synthetic", "generator": f"demo v{GENERATOR_VERSION}", "seed": seed,
                  "classes": {n: d for n, (d, _) in CLASSES.items()}}
        if distractors:
            source["distractors"] = {"per_sketch": distractors, "stroke_labels": "1 evidence, 0 distractor",
                                     "version": DISTRACTORS_VERSION,
                                     "strokes": "strokes of other sketches of the split (donors drawn uniformly, "
                                                "any class), where they sit in their own drawing"}
        return writer.commit({
            "name": dataset_name(distractors), "synthetic": True, "normalisation": NORMALISATION,
            "source": source,
            "split": {"method": "generated", "per_class": sizes},
            "counts": {"kept": {s: sizes[s] * len(names) for s in SPLITS}},
        })


def load_demo(seed: int = 0, sizes: dict[str, int] | None = None, lazy: bool = False,
              distractors: int = 0) -> SketchData:
    """The demo data for ``seed`` and per-class ``sizes`` (default 160/40/50), with
    ``distractors`` extra strokes per sketch, generated on first use and cached."""
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    path = cache_path(seed, sizes, distractors)
    if not path.is_file():
        generate(path, seed, sizes, distractors)
    try:
        data = open_h5(path, lazy=lazy)
    except BenchError:  # a damaged cache file: make it again
        generate(path, seed, sizes, distractors)
        data = open_h5(path, lazy=lazy)
    data.source = f"synthetic doodles: demo generator v{GENERATOR_VERSION}, seed {seed}"
    if distractors:
        data.source += f", {distractors} distractor strokes per sketch"
    return data
