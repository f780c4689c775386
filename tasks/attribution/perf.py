"""Cost of the removal-based explainers (``bench perf attribution``).

1. Occlusion over every stroke of ``--sketches`` (default 500) demo test sketches with one
   ``stroke_vit_tiny`` (random weights, 12 classes, eval mode): batched
   (:func:`tasks.attribution.explainers.occlusion.occlusion`: all leave-one-out variants of a batch of 64
   sketches in forward passes of up to 512 variants) vs one removal per forward pass
   (:func:`~tasks.attribution.explainers.occlusion.occlusion_one_at_a_time`); the same scores (max difference
   printed), one run of each on the same model.
2. Exact Shapley values (all ``2^n`` stroke subsets) of random-walk sketches of ``n`` strokes, as
   ``n`` grows: seconds per sketch and variants evaluated.
3. Where Captum is installed: the same occlusion scores computed by Captum's ``FeatureAblation``
   (:mod:`tasks.attribution.captum_reference`, every stroke of a batch ablated in one pass) and
   integrated gradients (16 steps) by Captum's ``IntegratedGradients``, beside ours on the same
   sketches and model (the scores agree; the max difference is printed).

One run of each, so the figures carry the machine's noise (wall and this process's CPU time).
``--device cuda``: the model and batches on the GPU (wall clocks read after it finished).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from benchmark.batch import collate
from benchmark.perf import add_device_option, device_name, emit, timed
from tasks.attribution.explainers.occlusion import occlusion, occlusion_one_at_a_time
from tasks.attribution.explainers.shapley import shapley

BATCH = 64


def measure(sketches: int = 500, max_strokes: int = 10, device: torch.device | None = None) -> dict[str, Any]:
    """The figures of this module's docstring on ``device`` (default the CPU), as one dict
    (``bench perf attribution --json``)."""
    from benchmark.data.demo import load_demo
    from encoders.stroke_vit import StrokeViTTiny

    device = device or torch.device("cpu")
    torch.manual_seed(0)
    model = StrokeViTTiny.build(12, {}).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    split = load_demo().split("test")
    chosen = np.sort(np.random.default_rng(0).choice(len(split), size=min(sketches, len(split)), replace=False))
    counts = np.array([int((split.sketch(i)[:, 2] > 0.5).sum()) for i in chosen])
    chosen = chosen[np.argsort(counts, kind="stable")]
    batches = [collate(split.get(chosen[s:s + BATCH]), split.labels[chosen[s:s + BATCH]], chosen[s:s + BATCH]).to(device)
               for s in range(0, len(chosen), BATCH)]
    strokes = int(counts.sum())
    with torch.inference_mode():
        fast, fast_wall, fast_cpu = timed(lambda: [occlusion(model, b, b.labels, 512) for b in batches], device)
        slow, slow_wall, slow_cpu = timed(lambda: [occlusion_one_at_a_time(model, b, b.labels) for b in batches],
                                          device)
    occlusion_rows = {"one removal at a time": {"seconds": slow_wall, "cpu_seconds": slow_cpu,
                                                "strokes_per_s": strokes / slow_wall},
                      "batched": {"seconds": fast_wall, "cpu_seconds": fast_cpu, "strokes_per_s": strokes / fast_wall}}
    shapley_rows = []
    rng = np.random.default_rng(0)
    for n in range(2, max_strokes + 1):
        batch = collate([random_walk(rng, n) for _ in range(8)], np.zeros(8, dtype=int), np.arange(8)).to(device)
        with torch.inference_mode():
            _, wall, _ = timed(lambda: shapley(model, batch, batch.labels, 0, max_exact=n, samples=2, chunk=512),
                               device)
        shapley_rows.append({"strokes": n, "variants": 2 ** n, "seconds_per_sketch": wall / 8,
                             "variants_per_s": 8 * 2 ** n / wall})
    captum = _captum_rows(model, batches, strokes, device)
    if captum:
        occlusion_rows["captum FeatureAblation"] = captum.pop("occlusion")
    return {"device": device_name(device), "sketches": len(chosen), "strokes": strokes,
            "threads": torch.get_num_threads(),
            "occlusion": occlusion_rows, **captum, "speedup_wall": slow_wall / fast_wall, "speedup_cpu": slow_cpu / fast_cpu,
            "max_abs_difference": max(float((a - b).abs().max()) for a, b in zip(fast, slow)),
            "shapley": shapley_rows}


def _captum_rows(model, batches, strokes: int, device) -> dict[str, Any]:
    """Captum beside ours (occlusion and integrated gradients), or ``{}`` without Captum."""
    try:
        import captum  # noqa: F401
    except ImportError:
        return {}
    from tasks.attribution.captum_reference import captum_scores
    from tasks.attribution.explainers.gradients import integrated_gradients

    width = max(int(b.stroke_mask.shape[1]) for b in batches)
    theirs, wall, cpu = timed(lambda: [captum_scores("occlusion", model, b, b.labels, perturbations_per_eval=width)
                                       for b in batches], device)
    ours = [occlusion(model, b, b.labels, 512) for b in batches]
    occlusion_row = {"seconds": wall, "cpu_seconds": cpu, "strokes_per_s": strokes / wall,
                     "max_abs_difference": max(float((a - b).abs().max()) for a, b in zip(ours, theirs))}
    few = batches[:2]
    sketches = sum(b.size for b in few)
    ig_ours, ours_wall, _ = timed(lambda: [integrated_gradients(model, b, b.labels, 16) for b in few], device)
    ig_theirs, theirs_wall, _ = timed(lambda: [captum_scores("integrated_gradients", model, b, b.labels, steps=16)
                                               for b in few], device)
    return {"occlusion": occlusion_row,
            "integrated_gradients": {"sketches": sketches, "ours_sketches_per_s": sketches / ours_wall,
                                     "captum_sketches_per_s": sketches / theirs_wall,
                                     "max_abs_difference": max(float((a - b).abs().max())
                                                               for a, b in zip(ig_ours, ig_theirs))}}


def format_table(fig: dict[str, Any]) -> str:
    lines = [f"occlusion: stroke_vit_tiny (random weights, 12 classes), {fig['sketches']} synthetic demo test "
             f"sketches, {fig['strokes']} strokes, {fig.get('device', 'cpu')}, {fig['threads']} threads",
             f"{'variant':<22} {'wall s':>8} {'cpu s':>8} {'strokes/s':>10}"]
    for name, row in fig["occlusion"].items():
        lines.append(f"{name:<22} {row['seconds']:>8.2f} {row['cpu_seconds']:>8.2f} {row['strokes_per_s']:>10.1f}")
    lines.append(f"speed-up: {fig['speedup_wall']:.1f}x wall, {fig['speedup_cpu']:.1f}x cpu; "
                 f"max |difference| {fig['max_abs_difference']:.2e}")
    if "captum FeatureAblation" in fig["occlusion"]:
        row = fig["occlusion"]["captum FeatureAblation"]
        ours = fig["occlusion"]["batched"]["strokes_per_s"]
        lines.append(f"ours batched vs Captum FeatureAblation: {ours / row['strokes_per_s']:.1f}x; "
                     f"max |difference| {row['max_abs_difference']:.2e}")
        ig = fig["integrated_gradients"]
        lines.append(f"integrated gradients (16 steps, {ig['sketches']} sketches): ours {ig['ours_sketches_per_s']:.1f} "
                     f"sketches/s, Captum {ig['captum_sketches_per_s']:.1f} "
                     f"({ig['ours_sketches_per_s'] / ig['captum_sketches_per_s']:.1f}x); "
                     f"max |difference| {ig['max_abs_difference']:.2e}")
    lines.append(f"exact Shapley (2 to {fig['shapley'][-1]['strokes']} strokes; 8 random-walk sketches each, batched):")
    lines.append(f"{'strokes':>7} {'variants':>9} {'s / sketch':>11} {'variants/s':>11}")
    for r in fig["shapley"]:
        lines.append(f"{r['strokes']:>7} {r['variants']:>9} {r['seconds_per_sketch']:>11.4f} "
                     f"{r['variants_per_s']:>11.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf attribution", description=__doc__.splitlines()[0])
    parser.add_argument("--sketches", type=int, default=500)
    parser.add_argument("--max-strokes", type=int, default=10, help="largest stroke count for exact Shapley")
    parser.add_argument("--threads", type=int, default=None)
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    figures = measure(args.sketches, args.max_strokes, args.device)
    emit(figures, args.json, format_table)
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
