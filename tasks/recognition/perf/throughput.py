"""Recognition throughput of the stroke-aware ViT-Tiny on real sketches: ``bench perf recognition``.

Side by side in one run, on the 30 SketchXAI categories of the real QuickDraw sample (batch 100,
2 threads by default): training (collate + forward + backward + AdamW step: fused, as the
``recognition`` task's (:mod:`benchmark.optim`), and torch's default in the compat mode, as
published; batches grouped by stroke count as the task does) and evaluation (collate + forward)
in sketches/s, for the default model (tokens only for real strokes, attention mask) and for ``reference_compat=True``
(196 tokens, no mask: the published implementation's numerics). Two limits for the default model,
measured in the same run: the FLOPs of the real tokens divided by this machine's large float32
matmul rate, and the *own-shape* limit: every product the timed batches perform (LSTM gates per
point step, attention and MLP at the batches' token counts, head, forward and backward) timed at
its real shapes (:mod:`benchmark.matmul_limit`). ``--profile`` adds the top operators of a
training and an evaluation pass; ``--compile`` times the default model through ``torch.compile``
as well (minutes of compiling first, not timed). ``--device cuda``: models and batches on the GPU
(the collate stays on the CPU, then the batch is copied over, inside the timed step), the large
matmul limit the GPU's; the own-shape limit is measured on the CPU only (its recorder knows the
CPU kernels: oneDNN's LSTM, CPU flash attention).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.batch import collate
from benchmark.distributed import epoch_batches
from benchmark.optim import adamw
from benchmark.matmul_limit import record_products, time_products
from benchmark.perf import (Compiled, add_device_option, clock, device_name, emit, matmul_gflops, operators_table,
                            real_sketches, top_operators)
from encoders.stroke_vit.flops import model_flops

#: The published implementation on this machine class (2 CPU cores), from the issue.
REFERENCE = {"train": 15.2, "eval": 57.2}


def _train_plan(sketches, batch_size: int, batches: int, seed: int = 0) -> list[np.ndarray]:
    """The training batches measured (grouped by stroke count, as the task does); the first warms up."""
    lengths = np.array([int((s[:, 2] > 0.5).sum()) for s in sketches])
    return epoch_batches(len(sketches), batch_size, seed, 0, lengths, bucket_batches=20)[:batches + 1]


def _eval_plan(sketches, batch_size: int, batches: int) -> list[np.ndarray]:
    """The evaluation batches measured (sorted by stroke count); the first warms up."""
    lengths = np.array([int((s[:, 2] > 0.5).sum()) for s in sketches])
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)][:batches + 1]


def _train_step(forward, optimizer, batch) -> None:
    loss = torch.nn.functional.cross_entropy(forward(batch), batch.labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _batch(sketches, labels, idx, device):
    return collate([sketches[j] for j in idx], labels[idx], idx).to(device)


def _train_rate(module, sketches, labels, plan, fused: bool | None = None, forward=None, device=None) -> float:
    forward = forward or module
    optimizer = adamw(module.parameters(), lr=3e-4, weight_decay=1e-4, fused=fused)
    module.train()
    seen, elapsed = 0, 0.0
    for i, idx in enumerate(plan):
        started = clock(device)
        _train_step(forward, optimizer, _batch(sketches, labels, idx, device))
        if i:  # the first batch warms up
            elapsed += clock(device) - started
            seen += len(idx)
    return seen / elapsed


@torch.no_grad()
def _eval_rate(module, sketches, labels, plan, forward=None, device=None) -> float:
    forward = forward or module
    module.eval()
    seen, elapsed = 0, 0.0
    for i, idx in enumerate(plan):
        started = clock(device)
        forward(_batch(sketches, labels, idx, device))
        if i:
            elapsed += clock(device) - started
            seen += len(idx)
    return seen / elapsed


def own_shape_limits(module, sketches, labels, plans: dict[str, list[np.ndarray]], threads: int
                     ) -> dict[str, dict[str, Any]]:
    """Per mode (``train``, ``eval``): the products of the timed batches of ``plans[mode]`` (all but
    the first), recorded while the step runs and timed at their shapes with ``threads`` threads;
    ``sketches_per_s``: the rate of a step doing nothing else. Gradients are cleared afterwards."""
    out = {}
    for mode, plan in plans.items():
        module.train(mode == "train")
        sequences = []
        for idx in plan[1:]:
            batch = collate([sketches[j] for j in idx], labels[idx], idx)
            if mode == "train":
                sequences.append(record_products(
                    lambda: torch.nn.functional.cross_entropy(module(batch), batch.labels).backward()))
            else:
                with torch.no_grad():
                    sequences.append(record_products(lambda: module(batch)))
        module.zero_grad(set_to_none=True)
        timing = time_products(sequences, threads)
        timing["sketches_per_s"] = sum(len(idx) for idx in plan[1:]) / timing["seconds"]
        out[mode] = timing
    return out


def profiles(module, sketches, labels, plans: dict[str, list[np.ndarray]], rows: int = 15, device=None
             ) -> dict[str, list[dict[str, Any]]]:
    """torch.profiler's top operators (self time on ``device``) over the timed batches, per mode."""
    optimizer = adamw(module.parameters(), lr=3e-4, weight_decay=1e-4)
    out = {}
    for mode, plan in plans.items():
        batches = [_batch(sketches, labels, idx, device) for idx in plan[1:]]
        module.train(mode == "train")
        if mode == "train":
            out[mode] = top_operators(lambda: [_train_step(module, optimizer, b) for b in batches], rows, device)
        else:
            with torch.no_grad():
                out[mode] = top_operators(lambda: [module(b) for b in batches], rows, device)
    return out


def measure(batch_size: int = 100, threads: int = 2, compat_batches: int = 2, source: Path | None = None,
            profile: bool = False, compile: bool = False, device: torch.device | None = None) -> dict[str, Any]:
    """Train/eval sketches/s of stroke_vit_tiny (default and reference-compatible) on real sketches
    on ``device`` (default the CPU), the default model's two limits (the own-shape one on the CPU
    only), and with ``profile`` / ``compile`` its top operators and its compiled rates."""
    from benchmark.plugins import get_manager

    device = device or torch.device("cpu")
    sketches, labels, where = real_sketches(source)
    gflops = matmul_gflops(threads, device=device)
    torch.set_num_threads(threads)
    cls = get_manager().encoder("stroke_vit_tiny")
    full = len(sketches) // batch_size - 1
    rows, extra = {}, {}
    for mode, compat, n in (("tokens for real strokes", False, full), ("reference_compat", True, compat_batches)):
        torch.manual_seed(0)
        module = cls.build(30, {**cls.defaults, "reference_compat": compat}).to(device)
        plans = {"train": _train_plan(sketches, batch_size, n), "eval": _eval_plan(sketches, batch_size, n)}
        # the compat mode keeps the published loop's optimiser (torch's default AdamW)
        rows[mode] = {"train": _train_rate(module, sketches, labels, plans["train"], fused=False if compat else None,
                                           device=device),
                      "eval": _eval_rate(module, sketches, labels, plans["eval"], device=device)}
        if not compat:
            if device.type == "cpu":
                extra["own_shape"] = own_shape_limits(module, sketches, labels, plans, threads)
            if profile:
                extra["profile"] = profiles(module, sketches, labels, plans, device=device)
            if compile:
                torch.manual_seed(0)
                fresh = cls.build(30, cls.defaults).to(device)
                forward = Compiled(fresh)
                # one pass over the plan compiles every shape met; the second is timed
                _train_rate(fresh, sketches, labels, plans["train"], forward=forward, device=device)
                _eval_rate(fresh, sketches, labels, plans["eval"], forward=forward, device=device)
                extra["compiled"] = {"how": forward.how,
                                     "train": _train_rate(fresh, sketches, labels, plans["train"], forward=forward,
                                                          device=device),
                                     "eval": _eval_rate(fresh, sketches, labels, plans["eval"], forward=forward,
                                                        device=device)}
    optimiser = optimiser_step_ms(module)
    mean_flops = {k: model_flops(sketches, train=(k == "train")) / len(sketches) for k in ("train", "eval")}
    limit = {k: gflops * 1e9 / mean_flops[k] for k in mean_flops}
    return {"source": where, "device": device_name(device), "sketches": len(sketches), "batch_size": batch_size,
            "threads": threads,
            "mean_strokes": float(np.mean([(s[:, 2] > 0.5).sum() for s in sketches])),
            "matmul_gflops": gflops, "rows": rows, "limit": limit, "reference": REFERENCE,
            "optimiser_step_ms": optimiser, **extra}


def optimiser_step_ms(module: torch.nn.Module, steps: int = 20) -> dict[str, float]:
    """Milliseconds per AdamW step over ``module``'s parameters (fixed random gradients), torch's
    default implementation and the fused one :func:`benchmark.optim.adamw` picks, side by side."""
    generator = torch.Generator().manual_seed(0)
    device = next(module.parameters()).device
    for p in module.parameters():
        p.grad = torch.randn(p.shape, generator=generator).to(device)
    times = {}
    for name, fused in (("default", False), ("fused", True)):
        optimizer = adamw(module.parameters(), lr=3e-4, weight_decay=1e-4, fused=fused)
        optimizer.step()  # creates the state
        started = clock(device)
        for _ in range(steps):
            optimizer.step()
        times[name] = (clock(device) - started) / steps * 1e3
    module.zero_grad(set_to_none=True)
    return times


def format_table(fig: dict[str, Any]) -> str:
    lines = [f"stroke_vit_tiny, {fig['sketches']} real sketches (30 categories, {fig['mean_strokes']:.1f} strokes "
             f"on average), batch {fig['batch_size']}, {fig.get('device', 'cpu')}, {fig['threads']} threads; "
             f"matmul {fig['matmul_gflops']:.1f} GFLOP/s",
             f"{'mode':<26}{'train sk/s':>12}{'x published':>13}{'eval sk/s':>12}{'x published':>13}"]
    for mode, r in fig["rows"].items():
        lines.append(f"{mode:<26}{r['train']:>12.1f}{r['train'] / REFERENCE['train']:>12.1f}x"
                     f"{r['eval']:>12.1f}{r['eval'] / REFERENCE['eval']:>12.1f}x")
    lines.append(f"{'published (issue)':<26}{REFERENCE['train']:>12.1f}{'':>13}{REFERENCE['eval']:>12.1f}")
    best = fig["rows"]["tokens for real strokes"]
    lines.append(f"{'FLOP limit (real tokens)':<26}{fig['limit']['train']:>12.1f}{'':>13}{fig['limit']['eval']:>12.1f}"
                 f"   -> reached {best['train'] / fig['limit']['train']:.0%} (train), "
                 f"{best['eval'] / fig['limit']['eval']:.0%} (eval)   [large matmul]")
    own = fig.get("own_shape")
    if own is None:
        lines.append("own-shape limit: measured on the CPU only (its recorder knows the CPU kernels)")
    else:
        lines.append(f"{'own-shape limit':<26}{own['train']['sketches_per_s']:>12.1f}{'':>13}"
                     f"{own['eval']['sketches_per_s']:>12.1f}"
                     f"   -> reached {best['train'] / own['train']['sketches_per_s']:.0%} (train), "
                     f"{best['eval'] / own['eval']['sketches_per_s']:.0%} (eval)   [its products at their shapes]")
        for mode in ("train", "eval"):
            o = own[mode]
            sources = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(o["by_source"].items()))
            lines.append(f"  {mode}: {o['products']} products ({o['shapes']} shapes, {o['gflop']:.1f} GFLOP): "
                         f"{o['alone_s']:.2f} s alone, {o['back_to_back_s']:.2f} s back to back "
                         f"({o['gflop'] / o['seconds']:.0f} GFLOP/s); alone by source: {sources}")
    if "compiled" in fig:
        c = fig["compiled"]
        lines.append(f"{'compiled':<26}{c['train']:>12.1f}{'':>13}{c['eval']:>12.1f}   {c['how']}")
    opt = fig["optimiser_step_ms"]
    lines.append(f"AdamW step: {opt['default']:.1f} ms torch's default, {opt['fused']:.1f} ms fused "
                 f"({opt['default'] / opt['fused']:.1f}x; training uses the fused one)")
    for mode, ops in fig.get("profile", {}).items():
        lines.append(operators_table(f"profile, {mode} (default model, the timed batches)", ops))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf recognition", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="add the top operators of a training and an eval pass")
    parser.add_argument("--compile", action="store_true",
                        help="also time the default model through torch.compile (compiling takes minutes on CPU)")
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.batch_size, args.threads, profile=args.profile, compile=args.compile, device=args.device)
    emit(figures, args.json, format_table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
