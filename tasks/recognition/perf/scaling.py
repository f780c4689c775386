"""Throughput against strokes per sketch: ``bench perf scaling``.

For each stroke count ``k`` (default 1, 2, 4, 8, 16, 32, 64, 128, 196) a set of sketches with exactly
``k`` strokes is built from the real strokes of the QuickDraw sample (:func:`sketches_with_strokes`:
synthetic layouts of human strokes; the output says so), and stroke_vit_tiny's training step
(collate + forward + backward + AdamW) and evaluation (collate + forward) are timed on it in
sketches/s, for the default model (one token per real stroke) and its ``reference_compat`` mode (196
tokens whatever the sketch), side by side in one run, on the same batches, taking turns batch by batch. The default's cost
should follow the real tokens (and the FLOP limit of the real tokens, given per row); compat's stays
flat at 196 tokens. Small counts (``--batch-size``, ``--batches``) keep it short: on a busy machine
quote the ratios, not the absolute rates.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.batch import MAX_STROKES, collate, split_strokes
from benchmark.optim import adamw
from benchmark.perf import add_device_option, clock, device_name, emit, matmul_gflops, real_sketches
from encoders.stroke_vit.flops import model_flops

STROKE_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128, 196)
MODES = (("default", False), ("reference_compat", True))


def sketches_with_strokes(sketches: list[np.ndarray], strokes: int, count: int, seed: int = 0
                          ) -> list[np.ndarray]:
    """``count`` sketches ``(n, 3)`` of exactly ``strokes`` strokes each: real strokes of ``sketches``
    (their points as drawn, absolute coordinates kept) drawn at random with a seeded generator and
    concatenated in drawing order, each with its end-of-stroke flag on its last point."""
    pool = [s for sketch in sketches for s in split_strokes(sketch)]
    rng = np.random.default_rng([seed, strokes])
    out = []
    for _ in range(count):
        picked = [pool[i] for i in rng.integers(0, len(pool), strokes)]
        parts = []
        for points in picked:
            flag = np.zeros((len(points), 1), np.float32)
            flag[-1] = 1
            parts.append(np.hstack([points.astype(np.float32), flag]))
        out.append(np.concatenate(parts))
    return out


def interleaved_rates(modules: dict[str, torch.nn.Module], sketches: list[np.ndarray], labels: np.ndarray,
                      batch_size: int, batches: int, device: torch.device | None = None
                      ) -> dict[str, dict[str, float]]:
    """Train and eval sketches/s of each module on the same ``batches + 1`` consecutive batches, the
    modules taking turns batch by batch (so a busy machine slows them alike); the first batch is
    untimed. Train: collate + forward + backward + AdamW step (:func:`benchmark.optim.adamw`;
    the compat mode torch's default AdamW, as published); eval: collate + forward (no grad); batches
    copied to ``device`` inside the timed step."""
    # the compat mode keeps the published loop's optimiser (torch's default AdamW)
    optimizers = {m: adamw(module.parameters(), lr=3e-4, weight_decay=1e-4,
                           fused=False if m == "reference_compat" else None)
                  for m, module in modules.items()}
    spent = {m: {"train": 0.0, "eval": 0.0} for m in modules}
    seen = 0
    for i in range(batches + 1):
        idx = np.arange(i * batch_size, (i + 1) * batch_size)
        for mode, module in modules.items():
            started = clock(device)
            module.train()
            batch = collate([sketches[j] for j in idx], labels[idx], idx).to(device)
            loss = torch.nn.functional.cross_entropy(module(batch), batch.labels)
            optimizers[mode].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[mode].step()
            trained = clock(device)
            module.eval()
            with torch.no_grad():
                module(collate([sketches[j] for j in idx], labels[idx], idx).to(device))
            if i:
                spent[mode]["train"] += trained - started
                spent[mode]["eval"] += clock(device) - trained
        seen += len(idx) if i else 0
    return {m: {k: seen / t for k, t in times.items()} for m, times in spent.items()}


def measure(stroke_counts: tuple[int, ...] = STROKE_COUNTS, batch_size: int = 16, batches: int = 2,
            threads: int = 2, source: Path | None = None, device: torch.device | None = None) -> dict[str, Any]:
    """Train/eval sketches/s of stroke_vit_tiny and its compat mode at each stroke count on ``device``
    (default the CPU): one warm-up batch, then ``batches`` timed batches of ``batch_size`` sketches
    per mode and count."""
    from benchmark.plugins import get_manager

    device = device or torch.device("cpu")
    real, _, where = real_sketches(source)
    gflops = matmul_gflops(threads, device=device)
    torch.set_num_threads(threads)
    cls = get_manager().encoder("stroke_vit_tiny")
    modules = {}
    for mode, compat in MODES:
        torch.manual_seed(0)
        modules[mode] = cls.build(30, {**cls.defaults, "reference_compat": compat}).to(device)
    rows = []
    for k in stroke_counts:
        n = batch_size * (batches + 1)
        sketches = sketches_with_strokes(real, k, n)
        labels = np.arange(n) % 30
        row: dict[str, Any] = {"strokes": k, "mean_points": float(np.mean([len(s) for s in sketches]))}
        row.update(interleaved_rates(modules, sketches, labels, batch_size, batches, device))
        row["limit"] = {kind: gflops * 1e9 / (model_flops(sketches, train=kind == "train") / n)
                        for kind in ("train", "eval")}
        rows.append(row)
    return {"source": where, "synthetic": "sketches of k real strokes drawn at random from the sample",
            "device": device_name(device), "batch_size": batch_size, "batches": batches, "threads": threads,
            "matmul_gflops": gflops,
            "rows": rows}


def format_table(fig: dict[str, Any]) -> str:
    lines = [f"stroke_vit_tiny against strokes per sketch (synthetic sketches of real strokes from "
             f"{fig['source']}), batch {fig['batch_size']}, {fig['batches']} timed batches, {fig.get('device', 'cpu')}, {fig['threads']} threads; "
             f"matmul {fig['matmul_gflops']:.1f} GFLOP/s",
             f"{'strokes':>7}{'points':>8} | {'train sk/s':>10}{'compat':>9}{'ratio':>7}{'limit':>8} | "
             f"{'eval sk/s':>10}{'compat':>9}{'ratio':>7}{'limit':>8}"]
    for r in fig["rows"]:
        cells = []
        for kind in ("train", "eval"):
            ours, compat = r["default"][kind], r["reference_compat"][kind]
            cells.append(f"{ours:>10.1f}{compat:>9.1f}{ours / compat:>6.1f}x{r['limit'][kind]:>8.0f}")
        lines.append(f"{r['strokes']:>7}{r['mean_points']:>8.0f} | {cells[0]} | {cells[1]}")
    lines.append("ratio = default / reference_compat on the same batches; limit = FLOP limit of the real tokens "
                 "(sketches/s at the measured matmul rate)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", default=",".join(map(str, STROKE_COUNTS)),
                        help="comma-separated stroke counts (1..196)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=2, help="timed batches per mode and count")
    parser.add_argument("--threads", type=int, default=2)
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        counts = tuple(int(k) for k in args.strokes.split(","))
    except ValueError:
        raise SystemExit(f"bench perf scaling: --strokes {args.strokes!r} is not a comma-separated list of "
                         "integers") from None
    if not all(1 <= k <= MAX_STROKES for k in counts):
        raise SystemExit(f"bench perf scaling: --strokes {args.strokes}: every count must be within 1..{MAX_STROKES}")
    figures = measure(counts, args.batch_size, args.batches, args.threads, device=args.device)
    emit(figures, args.json, format_table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
