"""Throughput of stroke location inversion: the batched implementation vs the published loop.

``bench perf sli`` inverts real QuickDraw sketches (the sample in
``$BENCH_QUICKDRAW_DIR``, default ``../shared/quickdraw``; the synthetic ``demo`` test split where
it is absent) with ``stroke_vit_tiny`` (random weights, 30 classes), 100 steps of the published
protocol, and prints sketches per second of:

- ``published (compat)``: the published loop, one sketch at a time, a full forward pass every step,
  on a ``reference_compat=True`` model (196 stroke tokens, no attention mask), as released;
- ``one at a time``: the same loop on the default model (tokens only for real strokes);
- ``batched, 1 worker``: :func:`tasks.sli.inversion.invert_many` on batches of sketches sorted by
  stroke count (shape embeddings computed once per batch, tokens packed), all threads inside each
  operation;
- ``batched, N workers``: the same with each batch split across ``N`` = ``--threads`` worker threads
  of one intra-op thread each, as the SLI tasks run it on CPU;
- ``batched bfloat16``: the latter with ``task.precision=bfloat16`` (opt-in, not the published
  numerics; only faster on CPUs with bf16 instructions).

Parameters are frozen in every variant (gradients with respect to locations only). Two limits of
the float32 batched path, measured in the same run: the FLOP limit (this machine's large float32
matmul rate divided by the FLOPs of the steps, :func:`encoders.stroke_vit.flops.sli_step_flops`)
and the *own-shape* limit: every product the workers' inversions perform (preparing, each step's
forward and backward, the last evaluation) timed at its real shapes on as many workers
(:mod:`benchmark.matmul_limit`). ``--profile`` adds the top operators of the batched path. One run of
each, so the figures carry the machine's noise; the published implementation was measured at
0.16 sketches/s on this kind of machine (2 cores). ``--device cuda``: every variant on the GPU, the
batched one whole (workers split a batch across CPU threads only, as the tasks do), the FLOP
limit the GPU's matmul rate; the own-shape limit is measured on the CPU only.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from benchmark.perf import add_device_option, device_name, matmul_gflops, operators_table, timed, top_operators
from tasks.sli import SLIRecovery

PUBLISHED_RATE = 0.16  # sketches/s of the released code, measured on a 2-core machine like this one
NUM_CLASSES = 30
ENCODER = "stroke_vit_tiny"
SLI_BATCH_SIZE = SLIRecovery.defaults["batch_size"]


def load_sketches(count: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, str]:
    """A seeded sample of ``count`` normalised sketches, their labels and where they came from."""
    from benchmark.perf import default_source, real_sketches

    folder = default_source()
    if folder is not None:
        sketches, labels, _ = real_sketches(folder)
        source = f"real QuickDraw drawings (simplified, 30 SLI categories) from {folder}"
    else:
        from benchmark.data.demo import load_demo

        split = load_demo().split("test")
        sketches, labels = split.get(range(len(split))), np.asarray(split.labels)
        source = "synthetic demo test split (QuickDraw sample not found)"
    chosen = np.random.default_rng(seed).choice(len(sketches), size=min(count, len(sketches)), replace=False)
    return [sketches[i] for i in chosen], labels[chosen], source


def own_shape_limit(model, batches, steps: int, workers: int) -> dict[str, Any]:
    """The own-shape limit of :func:`~tasks.sli.inversion.invert_many` with ``workers`` workers over
    ``batches`` (``(batch, start)`` pairs), ``steps`` steps: each worker part's products recorded
    with one and two steps (:func:`benchmark.matmul_limit.one_step`), timed on ``workers`` threads."""
    import torch

    from benchmark.matmul_limit import combined, one_step, record_products, time_products
    from tasks.sli.inversion import Protocol, invert, sub_batches, trim

    bases, extra_steps, sketches = [], [], 0
    for batch, start in batches:
        for rows in sub_batches(model, batch, workers=workers):
            sub = trim(batch.select(torch.as_tensor(rows)))
            begin, targets = start[torch.as_tensor(rows), :sub.stroke_mask.shape[1]], sub.labels
            one = record_products(lambda: invert(model, sub, begin, targets, Protocol(steps=1)))
            two = record_products(lambda: invert(model, sub, begin, targets, Protocol(steps=2)))
            bases.append(one)
            extra_steps.append(one_step(one, two))
        sketches += batch.size
    out = combined(time_products(bases, 1, workers), time_products(extra_steps, 1, workers), steps - 1)
    out["sketches_per_s"] = sketches / out["seconds"]
    out["workers"] = workers
    return out


def measure(batched_sketches: int = 400, single_sketches: int = 6, compat_sketches: int = 4, batch_size: int | None = None,
            steps: int = 100, threads: int = 2, seed: int = 0, profile: bool = False, device=None) -> dict[str, Any]:
    """Rates (sketches/s, wall clock and per CPU second) of the variants on ``device`` (default the
    CPU: five; on a GPU the batched one runs whole, so four); the single-sketch loops run on the
    first sketches of the batched sample. Returns ``{"rows": [...], "best": the float32 batched
    variant the limits are compared with, "source", "mean_strokes", ...}``."""
    import torch

    from benchmark.batch import collate
    from benchmark.plugins import get_manager
    from benchmark.model import freeze
    from tasks.sampling import start_locations
    from tasks.sli.inversion import Protocol, invert_many, invert_published

    device = device or torch.device("cpu")
    on_cpu = device.type == "cpu"
    torch.set_num_threads(threads)
    encoder = get_manager().encoder(ENCODER)
    batch_size = batch_size or SLI_BATCH_SIZE
    sketches, labels, source = load_sketches(batched_sketches, seed)
    strokes = np.array([int((s[:, 2] > 0.5).sum()) for s in sketches])
    protocol = Protocol(steps=steps)
    bf16 = Protocol(steps=steps, precision="bfloat16")

    def model(compat: bool):
        torch.manual_seed(seed)
        return freeze(encoder.build(NUM_CLASSES, {**encoder.defaults, "reference_compat": compat}).to(device))

    def one_at_a_time(module, count: int) -> None:
        for i in range(count):
            batch = collate([sketches[i]], labels[i:i + 1], [i]).to(device)
            invert_published(module, batch, start_locations(batch, "randn", 0.1, seed), int(labels[i]), protocol)

    def sorted_batches():
        """``(batch, start)`` of the sample in batches sorted by stroke count (as ctx.eval_batches orders a shard)."""
        order = np.argsort(strokes, kind="stable")
        for lo in range(0, len(order), batch_size):
            rows = order[lo:lo + batch_size]
            batch = collate([sketches[i] for i in rows], labels[rows], rows).to(device)
            yield batch, start_locations(batch, "randn", 0.1, seed)

    def batched(module, protocol: Protocol, workers: int) -> None:
        for batch, start in sorted_batches():
            invert_many(module, batch, start, batch.labels, protocol, workers=workers)

    default_model, compat_model = model(False), model(True)
    warm = collate(sketches[:2], labels[:2], [0, 1]).to(device)  # first calls pay one-off kernel set-up costs
    for module in (default_model, compat_model):
        invert_many(module, warm, warm.locations, warm.labels, Protocol(steps=2))
    workers = f"batched, {threads} worker{'s' if threads > 1 else ''}" if on_cpu else "batched (whole batch on the GPU)"
    variants = [("published (compat)", compat_sketches, lambda: one_at_a_time(compat_model, compat_sketches)),
                ("one at a time", single_sketches, lambda: one_at_a_time(default_model, single_sketches))]
    if on_cpu:
        variants.append(("batched, 1 worker", len(sketches), lambda: batched(default_model, protocol, 1)))
    variants += [(workers, len(sketches), lambda: batched(default_model, protocol, threads if on_cpu else 1)),
                 ("batched bfloat16", len(sketches), lambda: batched(default_model, bf16, threads if on_cpu else 1))]
    rows = []
    for name, count, work in variants:
        _, wall, cpu = timed(work, device)
        rows.append({"variant": name, "sketches": count, "seconds": wall, "cpu_seconds": cpu,
                     "sketches_per_s": count / wall, "sketches_per_cpu_s": count / cpu})
    for row in rows:
        row["speedup_vs_compat"] = row["sketches_per_s"] / rows[0]["sketches_per_s"]
        row["cpu_speedup_vs_compat"] = row["sketches_per_cpu_s"] / rows[0]["sketches_per_cpu_s"]
        row["speedup_vs_published_0.16"] = row["sketches_per_s"] / PUBLISHED_RATE
    from encoders.stroke_vit.flops import sli_step_flops

    gflops = matmul_gflops(threads, device=device)
    limit = gflops * 1e9 / (sli_step_flops(sketches) / len(sketches) * steps)
    batches = list(sorted_batches())
    extra = {}
    if on_cpu:
        extra["own_shape"] = own_shape_limit(default_model, batches, steps, threads)
    if profile:
        extra["profile"] = top_operators(lambda: [invert_many(default_model, b, st, b.labels, Protocol(steps=10),
                                                              workers=1) for b, st in batches], device=device)
    return {"rows": rows, "best": workers, "device": device_name(device), "source": source, "matmul_gflops": gflops,
            "flop_limit_sketches_per_s": limit, **extra,
            "mean_strokes": float(np.mean(strokes)),
            "mean_points": float(np.mean([len(s) for s in sketches])), "steps": steps, "threads": threads,
            "batch_size": batch_size, "model": "stroke_vit_tiny, random weights, 30 classes"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf sli", description=__doc__.splitlines()[0])
    parser.add_argument("--sketches", type=int, default=400, help="sketches for the batched variants")
    parser.add_argument("--single", type=int, default=6, help="sketches for the one-at-a-time loop")
    parser.add_argument("--compat", type=int, default=4, help="sketches for the published (compat) loop")
    parser.add_argument("--batch-size", type=int, default=SLI_BATCH_SIZE, help="default: the SLI tasks' batch size")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="add the top operators of the batched path")
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    out = measure(args.sketches, args.single, args.compat, args.batch_size, args.steps, args.threads,
                  profile=args.profile, device=args.device)
    if args.json:
        print(json.dumps(out, indent=2, default=float))
        return 0
    print(f"SLI throughput: {out['model']}, {out['steps']} steps, {out['device']}, {out['threads']} threads, "
          f"batch {out['batch_size']}")
    print(f"sketches: {out['source']}; mean {out['mean_strokes']:.1f} strokes, {out['mean_points']:.0f} points")
    print(f"{'variant':<22} {'sketches':>8} {'wall s':>8} {'cpu s':>8} {'sketches/s':>11} {'x compat':>9} "
          f"{'x 0.16/s':>9} {'per cpu s':>10} {'x compat':>9}")
    for row in out["rows"]:
        print(f"{row['variant']:<22} {row['sketches']:>8} {row['seconds']:>8.2f} {row['cpu_seconds']:>8.2f} "
              f"{row['sketches_per_s']:>11.3f} {row['speedup_vs_compat']:>9.1f} {row['speedup_vs_published_0.16']:>9.1f} "
              f"{row['sketches_per_cpu_s']:>10.3f} {row['cpu_speedup_vs_compat']:>9.1f}")
    limit, compat = out["flop_limit_sketches_per_s"], out["rows"][0]["sketches_per_s"]
    best = next(r for r in out["rows"] if r["variant"] == out["best"])
    print(f"FLOP limit (float32, real tokens; matmul {out['matmul_gflops']:.0f} GFLOP/s): {limit:.2f} sketches/s "
          f"= {limit / compat:.0f}x compat; {best['variant']} reaches {best['sketches_per_s'] / limit:.0%} of it   "
          f"[large matmul]")
    own = out.get("own_shape")
    if own is None:
        print("own-shape limit: measured on the CPU only (its recorder knows the CPU kernels)")
    else:
        _print_own_shape(own, compat, best)
    if "profile" in out:
        print(operators_table("profile, batched float32 (1 worker, 10 steps)", out["profile"]))
    print("wall-clock rates count other processes' load; 'per cpu s' divides by this process's CPU time")
    return 0


def _print_own_shape(own: dict[str, Any], compat: float, best: dict[str, Any]) -> None:
    sources = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(own["by_source"].items()))
    print(f"own-shape limit ({own['workers']} worker{'s' if own['workers'] > 1 else ''}: the products at their shapes): "
          f"{own['sketches_per_s']:.2f} sketches/s = {own['sketches_per_s'] / compat:.0f}x compat; "
          f"{best['variant']} reaches {best['sketches_per_s'] / own['sketches_per_s']:.0%} of it "
          f"({own['gflop']:.0f} GFLOP: {own['alone_s']:.1f} s alone, {own['back_to_back_s']:.1f} s back to back; "
          f"alone by source: {sources})")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
