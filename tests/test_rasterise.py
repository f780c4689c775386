"""The differentiable rasteriser against hard renderers written here (a brute-force numpy distance
renderer and Bresenham lines), finite-difference gradients, and its canvas conventions.

Sketches are synthetic random walks, plus real QuickDraw drawings where the sample is present.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.batch import collate, split_strokes
from encoders.baselines.rasterise import rasterise


def walk_sketch(rng: np.random.Generator, lengths: list[int], spread: float = 0.8) -> np.ndarray:
    """Random-walk strokes of the given numbers of points (a length of 1 is a dot). Coordinates
    are multiples of 2^-10, so the batch's float32 offsets reproduce them exactly."""
    parts = []
    for n in lengths:
        xy = rng.uniform(-spread, spread, 2) + np.cumsum(rng.normal(0, 0.08, (n, 2)), axis=0)
        xy = np.round(xy * 1024) / 1024
        part = np.zeros((n, 3), np.float32)
        part[:, :2], part[-1, 2] = xy, 1
        parts.append(part)
    return np.concatenate(parts)


def quickdraw_sketches(folder: Path, n: int) -> list[np.ndarray]:
    """The first ``n`` simplified drawings of 'cat', normalised like the reference."""
    out = []
    with (folder / "full" / "simplified" / "cat.ndjson").open() as f:
        for line in list(f)[:n]:
            strokes = json.loads(line)["drawing"]
            ends = [np.eye(1, len(xs), len(xs) - 1)[0] for xs, _ in strokes]
            pts = np.concatenate([np.stack([xs, ys, e], 1) for (xs, ys), e in zip(strokes, ends)])
            lo, hi = pts[:, :2].min(0), pts[:, :2].max(0)
            pts[:, :2] = (pts[:, :2] - (lo + hi) / 2) / (hi - lo).max() * 1.48
            out.append(pts.astype(np.float32))
    return out


def mixed_sketches() -> list[np.ndarray]:
    """Strokes of several lengths, dots, a repeated point and strokes leaving the canvas."""
    rng = np.random.default_rng(7)
    sketches = [walk_sketch(rng, [5, 1, 12]), walk_sketch(rng, [2, 9, 1, 1, 4]), walk_sketch(rng, [20])]
    sketches[0][2] = sketches[0][1] * [1, 1, 0]  # a repeated point (zero-length segment)
    leaving = np.zeros((6, 3), np.float32)  # a stroke running off the canvas's right edge
    leaving[:, 0], leaving[:, 1], leaving[-1, 2] = np.linspace(0.75, 1.25, 6), np.linspace(-0.25, -0.875, 6), 1
    sketches[2] = np.concatenate([sketches[2], leaving])
    return sketches


def to_pixels(xy: np.ndarray, size: int) -> np.ndarray:
    return (xy.astype(np.float64) + 1) * size / 2 - 0.5


def soft_images(sketches, size, **options) -> np.ndarray:
    batch = collate(sketches, [0] * len(sketches))
    points = batch.points(batch.locations.double()).to(torch.float64)
    return rasterise(points, batch.point_mask, size=size, **options).numpy()


def dense_reference(sketch: np.ndarray, size: int, sigma: float, cutoff: float) -> np.ndarray:
    """Every pixel against every segment, in float64 numpy: max over segments of the truncated
    Gaussian of the pixel's distance (a one-point stroke is a dot)."""
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="xy"), -1).reshape(-1, 1, 2)
    segments = []
    for stroke in split_strokes(sketch):
        p = to_pixels(stroke, size)
        segments += [(p[0], p[0])] if len(p) == 1 else list(zip(p[:-1], p[1:]))
    a = np.array([s[0] for s in segments])[None]
    u = np.array([s[1] for s in segments])[None] - a
    len2 = (u * u).sum(-1)
    t = np.clip(((grid - a) * u).sum(-1) / np.where(len2 > 0, len2, 1), 0, 1)
    d2 = ((grid - a - t[..., None] * u) ** 2).sum(-1).min(1)
    floor = math.exp(-cutoff**2 / 2)
    return np.clip((np.exp(-d2 / (2 * sigma**2)) - floor) / (1 - floor), 0, None).reshape(size, size)


def bresenham(p0, p1) -> list[tuple[int, int]]:
    """Integer pixels ``(x, y)`` of the line between two (rounded) pixel positions."""
    x0, y0 = (int(round(v)) for v in p0)
    x1, y1 = (int(round(v)) for v in p1)
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x1 > x0 else -1), (1 if y1 > y0 else -1)
    err, out = dx + dy, []
    while True:
        out.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return out
        e2 = 2 * err
        if e2 >= dy:
            err, x0 = err + dy, x0 + sx
        if e2 <= dx:
            err, y0 = err + dx, y0 + sy


def hard_image(sketch: np.ndarray, size: int) -> np.ndarray:
    """1-pixel Bresenham lines (a one-point stroke is one pixel), on a canvas with a margin so
    lines leaving the image are kept; returns the ``(size + 2m, size + 2m)`` canvas, m = 8."""
    m = 8
    img = np.zeros((size + 2 * m, size + 2 * m), bool)
    for stroke in split_strokes(sketch):
        p = to_pixels(stroke, size)
        for q0, q1 in ([(p[0], p[0])] if len(p) == 1 else zip(p[:-1], p[1:])):
            for x, y in bresenham(q0, q1):
                if -m <= x < size + m and -m <= y < size + m:
                    img[y + m, x + m] = True
    return img


def g(d: float, sigma: float, cutoff: float) -> float:
    floor = math.exp(-cutoff**2 / 2)
    return max(0.0, (math.exp(-d * d / (2 * sigma * sigma)) - floor) / (1 - floor))


@pytest.mark.parametrize("size,tile,sigma,cutoff", [(64, 8, 1.0, 3.0), (32, 4, 1.5, 3.0), (24, 8, 0.7, 4.0)])
def test_tiled_rendering_equals_dense_reference(size, tile, sigma, cutoff):
    sketches = mixed_sketches()
    soft = soft_images(sketches, size, sigma=sigma, cutoff=cutoff, tile=tile)
    for image, sketch in zip(soft, sketches):
        np.testing.assert_allclose(image, dense_reference(sketch, size, sigma, cutoff), atol=1e-9, rtol=0)
    assert soft.max() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("source", ["synthetic", "quickdraw"])
def test_soft_lines_cover_bresenham_lines_and_nothing_far_from_them(source, request):
    size, sigma, cutoff, m = 64, 1.0, 3.0, 8
    if source == "synthetic":
        sketches = mixed_sketches()
    else:
        sketches = quickdraw_sketches(request.getfixturevalue("quickdraw_dir"), 12)
    soft = soft_images(sketches, size, sigma=sigma, cutoff=cutoff)
    # a Bresenham pixel is within 0.5 px of the line through the rounded end points, which are
    # within sqrt(0.5) px of the true ones: at most ~1.21 px from the true segment
    on_line = g(1.22, sigma, cutoff)
    for image, sketch in zip(soft, sketches):
        hard = hard_image(sketch, size)
        inside = hard[m:-m, m:-m]
        assert inside.any()
        assert image[inside].min() >= on_line
        # Chebyshev distance (in pixels) from every pixel to the nearest Bresenham pixel
        ys, xs = np.nonzero(hard)
        yy, xx = np.mgrid[0:size, 0:size] + m
        cheb = np.min(np.maximum(abs(yy[..., None] - ys), abs(xx[..., None] - xs)), axis=-1)
        assert (cheb[image > 0.5] <= 2).all()  # bright means within 1.18 px of the true line
        assert (image[cheb > math.ceil(cutoff * sigma + 1.22)] == 0).all()
        intersection = ((image > 0.5) & (cheb <= 1)).sum()
        assert intersection / ((image > 0.5) | (cheb == 0)).sum() > 0.5


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    sketches = [walk_sketch(rng, [3, 1], spread=0.5), walk_sketch(rng, [4], spread=0.5)]
    batch = collate(sketches, [0, 1])
    batch = batch.replace(offsets=batch.offsets.double())
    options = dict(size=12, sigma=1.5, tile=4)

    def image(locations):
        return rasterise(batch.points(locations), batch.point_mask, **options)

    locations = batch.locations.double().requires_grad_(True)
    assert torch.autograd.gradcheck(image, (locations,), eps=1e-6, atol=1e-6, rtol=1e-4)
    image(locations).pow(2).sum().backward()
    grad = locations.grad.abs().sum(-1)
    assert (grad[batch.stroke_mask] > 0).all()  # every real stroke, the dot included, moves the image
    assert (grad[~batch.stroke_mask] == 0).all()


def test_canvas_orientation_and_translation():
    size = 32
    dot = np.array([[-1 + (2 * 3 + 1) / size, -1 + (2 * 5 + 1) / size, 1]], np.float32)  # column 3, row 5
    image = soft_images([dot], size)[0]
    assert np.unravel_index(image.argmax(), image.shape) == (5, 3)
    assert image[5, 3] == pytest.approx(1.0)
    sketch = walk_sketch(np.random.default_rng(5), [6, 4], spread=0.3)
    moved = sketch.copy()
    moved[:, :2] += np.array([3, -2], np.float32) * 2 / size  # 3 columns right, 2 rows up
    a, b = soft_images([sketch, moved], size)
    np.testing.assert_allclose(np.roll(a, (-2, 3), axis=(0, 1)), b, atol=1e-5)


def test_padding_does_not_change_a_sketchs_image():
    rng = np.random.default_rng(11)
    short, long_ = walk_sketch(rng, [3, 1]), walk_sketch(rng, [15, 9, 12, 2])
    alone = soft_images([short], 64)[0]
    np.testing.assert_allclose(soft_images([long_, short], 64)[1], alone, atol=1e-6, rtol=0)


def test_tile_must_divide_size():
    batch = collate([walk_sketch(np.random.default_rng(0), [3])], [0])
    with pytest.raises(ValueError, match="must divide"):
        rasterise(batch.points(), batch.point_mask, size=60, tile=8)
