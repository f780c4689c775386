"""Recognition throughput of the stroke-aware ViT-Tiny on real sketches: ``bench perf recognition``.

Side by side in one run, on the 30 SketchXAI categories of the real QuickDraw sample (batch 100,
2 threads by default): training (collate + forward + backward + AdamW step: fused, as the
``recognition`` task's (:mod:`benchmark.optim`), and torch's default in the compat mode, as
published; batches grouped by stroke count as the task does) and evaluation (collate + forward)
in sketches/s, for the default model (tokens only for real strokes, attention mask) and for ``reference_compat=True``
(196 tokens, no mask: the published implementation's numerics). The limit is estimated as the FLOPs
of the real tokens divided by this machine's measured float32 matmul rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.batch import collate
from benchmark.distributed import epoch_batches
from benchmark.optim import adamw
from benchmark.perf import emit, matmul_gflops, real_sketches
from encoders.stroke_vit.flops import model_flops

#: The published implementation on this machine class (2 CPU cores), from the issue.
REFERENCE = {"train": 15.2, "eval": 57.2}


def _train_rate(module, sketches, labels, batch_size: int, batches: int, seed: int = 0,
                fused: bool | None = None) -> float:
    lengths = np.array([int((s[:, 2] > 0.5).sum()) for s in sketches])
    plan = epoch_batches(len(sketches), batch_size, seed, 0, lengths, bucket_batches=20)[:batches + 1]
    optimizer = adamw(module.parameters(), lr=3e-4, weight_decay=1e-4, fused=fused)
    module.train()
    seen, elapsed = 0, 0.0
    for i, idx in enumerate(plan):
        started = time.perf_counter()
        batch = collate([sketches[j] for j in idx], labels[idx], idx)
        loss = torch.nn.functional.cross_entropy(module(batch), batch.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i:  # the first batch warms up
            elapsed += time.perf_counter() - started
            seen += len(idx)
    return seen / elapsed


@torch.no_grad()
def _eval_rate(module, sketches, labels, batch_size: int, batches: int) -> float:
    lengths = np.array([int((s[:, 2] > 0.5).sum()) for s in sketches])
    order = np.argsort(lengths, kind="stable")
    plan = [order[i:i + batch_size] for i in range(0, len(order), batch_size)][:batches + 1]
    module.eval()
    seen, elapsed = 0, 0.0
    for i, idx in enumerate(plan):
        started = time.perf_counter()
        module(collate([sketches[j] for j in idx], labels[idx], idx))
        if i:
            elapsed += time.perf_counter() - started
            seen += len(idx)
    return seen / elapsed


def measure(batch_size: int = 100, threads: int = 2, compat_batches: int = 2, source: Path | None = None
            ) -> dict[str, Any]:
    """Train/eval sketches/s of stroke_vit_tiny (default and reference-compatible) on real sketches."""
    from benchmark.plugins import get_manager

    sketches, labels, where = real_sketches(source)
    gflops = matmul_gflops(threads)
    torch.set_num_threads(threads)
    cls = get_manager().encoder("stroke_vit_tiny")
    full = len(sketches) // batch_size - 1
    rows = {}
    for mode, compat, n in (("tokens for real strokes", False, full), ("reference_compat", True, compat_batches)):
        torch.manual_seed(0)
        module = cls.build(30, {**cls.defaults, "reference_compat": compat})
        # the compat mode keeps the published loop's optimiser (torch's default AdamW)
        rows[mode] = {"train": _train_rate(module, sketches, labels, batch_size, n, fused=False if compat else None),
                      "eval": _eval_rate(module, sketches, labels, batch_size, n)}
    optimiser = optimiser_step_ms(module)
    mean_flops = {k: model_flops(sketches, train=(k == "train")) / len(sketches) for k in ("train", "eval")}
    limit = {k: gflops * 1e9 / mean_flops[k] for k in mean_flops}
    return {"source": where, "sketches": len(sketches), "batch_size": batch_size, "threads": threads,
            "mean_strokes": float(np.mean([(s[:, 2] > 0.5).sum() for s in sketches])),
            "matmul_gflops": gflops, "rows": rows, "limit": limit, "reference": REFERENCE,
            "optimiser_step_ms": optimiser}


def optimiser_step_ms(module: torch.nn.Module, steps: int = 20) -> dict[str, float]:
    """Milliseconds per AdamW step over ``module``'s parameters (fixed random gradients), torch's
    default implementation and the fused one :func:`benchmark.optim.adamw` picks, side by side."""
    generator = torch.Generator().manual_seed(0)
    for p in module.parameters():
        p.grad = torch.randn(p.shape, generator=generator)
    times = {}
    for name, fused in (("default", False), ("fused", True)):
        optimizer = adamw(module.parameters(), lr=3e-4, weight_decay=1e-4, fused=fused)
        optimizer.step()  # creates the state
        started = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        times[name] = (time.perf_counter() - started) / steps * 1e3
    module.zero_grad(set_to_none=True)
    return times


def format_table(fig: dict[str, Any]) -> str:
    lines = [f"stroke_vit_tiny, {fig['sketches']} real sketches (30 categories, {fig['mean_strokes']:.1f} strokes "
             f"on average), batch {fig['batch_size']}, {fig['threads']} threads; "
             f"matmul {fig['matmul_gflops']:.1f} GFLOP/s",
             f"{'mode':<26}{'train sk/s':>12}{'x published':>13}{'eval sk/s':>12}{'x published':>13}"]
    for mode, r in fig["rows"].items():
        lines.append(f"{mode:<26}{r['train']:>12.1f}{r['train'] / REFERENCE['train']:>12.1f}x"
                     f"{r['eval']:>12.1f}{r['eval'] / REFERENCE['eval']:>12.1f}x")
    lines.append(f"{'published (issue)':<26}{REFERENCE['train']:>12.1f}{'':>13}{REFERENCE['eval']:>12.1f}")
    best = fig["rows"]["tokens for real strokes"]
    lines.append(f"{'FLOP limit (real tokens)':<26}{fig['limit']['train']:>12.1f}{'':>13}{fig['limit']['eval']:>12.1f}"
                 f"   -> reached {best['train'] / fig['limit']['train']:.0%} (train), "
                 f"{best['eval'] / fig['limit']['eval']:.0%} (eval)")
    opt = fig["optimiser_step_ms"]
    lines.append(f"AdamW step: {opt['default']:.1f} ms torch's default, {opt['fused']:.1f} ms fused "
                 f"({opt['default'] / opt['fused']:.1f}x; training uses the fused one)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf recognition", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.batch_size, args.threads)
    emit(figures, args.json, format_table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
