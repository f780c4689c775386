"""Cost of the removal-based explainers (``bench perf attribution``).

1. Occlusion over every stroke of ``--sketches`` (default 500) demo test sketches with one
   ``stroke_vit_tiny`` (random weights, 12 classes, eval mode): batched
   (:func:`tasks.explainers.occlusion.occlusion`: all leave-one-out variants of a batch of 64
   sketches in forward passes of up to 512 variants) vs one removal per forward pass
   (:func:`~tasks.explainers.occlusion.occlusion_one_at_a_time`); the same scores (max difference
   printed), one run of each on the same model.
2. Exact Shapley values (all ``2^n`` stroke subsets) of random-walk sketches of ``n`` strokes, as
   ``n`` grows: seconds per sketch and variants evaluated.

One run of each, so the figures carry the machine's noise (wall and this process's CPU time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmark.batch import collate
from tasks.explainers.occlusion import occlusion, occlusion_one_at_a_time
from tasks.explainers.shapley import shapley

BATCH = 64


def _timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sketches", type=int, default=500)
    parser.add_argument("--max-strokes", type=int, default=10, help="largest stroke count for exact Shapley")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from benchmark.data.demo import load_demo
    from encoders.stroke_vit import StrokeViTTiny

    torch.manual_seed(0)
    model = StrokeViTTiny.build(12, {}).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    split = load_demo().split("test")
    chosen = np.sort(np.random.default_rng(0).choice(len(split), size=min(args.sketches, len(split)), replace=False))
    counts = np.array([int((split.sketch(i)[:, 2] > 0.5).sum()) for i in chosen])
    chosen = chosen[np.argsort(counts, kind="stable")]
    batches = [collate(split.get(chosen[s:s + BATCH]), split.labels[chosen[s:s + BATCH]], chosen[s:s + BATCH])
               for s in range(0, len(chosen), BATCH)]
    strokes = int(counts.sum())
    with torch.inference_mode():
        fast, fast_wall, fast_cpu = _timed(lambda: [occlusion(model, b, b.labels, 512) for b in batches])
        slow, slow_wall, slow_cpu = _timed(lambda: [occlusion_one_at_a_time(model, b, b.labels) for b in batches])
    diff = max(float((a - b).abs().max()) for a, b in zip(fast, slow))
    print(f"occlusion: stroke_vit_tiny (random weights, 12 classes), {len(chosen)} synthetic demo test sketches, "
          f"{strokes} strokes, {torch.get_num_threads()} threads")
    print(f"{'variant':<22} {'wall s':>8} {'cpu s':>8} {'strokes/s':>10}")
    print(f"{'one removal at a time':<22} {slow_wall:>8.2f} {slow_cpu:>8.2f} {strokes / slow_wall:>10.1f}")
    print(f"{'batched':<22} {fast_wall:>8.2f} {fast_cpu:>8.2f} {strokes / fast_wall:>10.1f}")
    print(f"speed-up: {slow_wall / fast_wall:.1f}x wall, {slow_cpu / fast_cpu:.1f}x cpu; max |difference| {diff:.2e}")

    print(f"exact Shapley ({2} to {args.max_strokes} strokes; 8 random-walk sketches each, batched):")
    print(f"{'strokes':>7} {'variants':>9} {'s / sketch':>11} {'variants/s':>11}")
    rng = np.random.default_rng(0)
    for n in range(2, args.max_strokes + 1):
        batch = collate([random_walk(rng, n) for _ in range(8)], np.zeros(8, dtype=int), np.arange(8))
        with torch.inference_mode():
            _, wall, _ = _timed(lambda: shapley(model, batch, batch.labels, 0, max_exact=n, samples=2, chunk=512))
        print(f"{n:>7} {2 ** n:>9} {wall / 8:>11.4f} {8 * 2 ** n / wall:>11.0f}")
    return 0


def random_walk(rng: np.random.Generator, strokes: int, points: int = 8) -> np.ndarray:
    """A sketch of ``strokes`` random-walk strokes of ``points`` points on the normalised canvas."""
    parts = []
    for _ in range(strokes):
        xy = np.clip(rng.uniform(-0.6, 0.6, 2) + np.cumsum(rng.normal(0, 0.05, (points, 2)), axis=0), -0.74, 0.74)
        end = np.zeros((points, 1))
        end[-1] = 1
        parts.append(np.hstack([xy, end]))
    return np.vstack(parts).astype(np.float32)
