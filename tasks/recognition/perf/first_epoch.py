"""Why the first training epoch is slower: ``bench perf first-epoch``.

Trains stroke_vit_tiny on the synthetic ``demo`` train split as the ``recognition`` task does
(collate, forward, backward, AdamW; batches grouped by stroke count), two epochs with one batch
plan, then a second, fresh model and optimiser the same way **in the same process**. Per epoch it
reports CPU time (user and kernel), minor page faults (``getrusage``) and the CPU time of the first
two steps. If the first epoch's excess were the model's or the optimiser's lazy state, the second
model's first epoch would pay it again; if it is the process's (memory touched for the first time,
or the kernels oneDNN builds and caches process-wide for each new tensor shape), only the first
model's first epoch does, and the minor page faults tell those two apart: in a fresh process the
excess comes with ~10^5 faults; after other work in the same process (``bench perf --json``) the
first epoch still costs ~25% more CPU time with ~10^3 faults, which points at the per-shape
kernels (not measured directly). ``--device cuda``: the models and batches on the GPU; the wall
seconds per epoch (read after the GPU finished) then say what the first epoch costs there (the
CUDA context, kernels loaded and cuDNN plans built on first use), the CPU time what the host spent.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any

import torch
import torch.nn.functional as F

from benchmark.batch import collate
from benchmark.distributed import epoch_batches
from benchmark.optim import adamw
from benchmark.perf import add_device_option, clock, device_name, emit


def measure(per_class: int = 160, batch_size: int = 100, threads: int = 1, device: torch.device | None = None
            ) -> dict[str, Any]:
    """Per-epoch figures of two models trained one after the other in this process on ``device``
    (default the CPU; see the module)."""
    from benchmark.plugins import get_manager
    from benchmark.run.context import stroke_counts

    device = device or torch.device("cpu")
    torch.set_num_threads(threads)
    manager = get_manager()
    data = manager.dataset("demo").open({"per_class_train": per_class})
    split = data.split("train")
    plan = epoch_batches(len(split), batch_size, 0, 0, stroke_counts(split), bucket_batches=20)
    cls = manager.encoder("stroke_vit_tiny")
    rows = []
    for model_name in ("first model", "second model, same process"):
        torch.manual_seed(0)
        model = cls.build(len(data.categories), dict(cls.defaults)).to(device).train()
        optimizer = adamw(model.parameters(), lr=1e-3, weight_decay=1e-4)
        for epoch in range(2):
            before, first, began = resource.getrusage(resource.RUSAGE_SELF), [], clock(device)
            for step, idx in enumerate(plan):
                started = time.process_time()
                batch = collate(split.get(idx), split.labels[idx], idx).to(device)
                loss = F.cross_entropy(model(batch), batch.labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if step < 2:
                    first.append(time.process_time() - started)
            wall = clock(device) - began
            after = resource.getrusage(resource.RUSAGE_SELF)
            rows.append({"model": model_name, "epoch": epoch + 1, "wall_s": wall, "user_s": after.ru_utime - before.ru_utime,
                         "sys_s": after.ru_stime - before.ru_stime, "minor_faults": after.ru_minflt - before.ru_minflt,
                         "first_steps_cpu_s": first, "max_rss_mb": after.ru_maxrss / 1024})
    return {"data": f"demo (synthetic), {len(split)} train sketches", "device": device_name(device),
            "batch_size": batch_size, "steps": len(plan),
            "threads": threads, "rows": rows}


def format_table(fig: dict[str, Any]) -> str:
    lines = [f"stroke_vit_tiny on {fig['data']}, batch {fig['batch_size']}, {fig['steps']} steps an epoch, "
             f"{fig.get('device', 'cpu')}, {fig['threads']} threads (CPU time, so less sensitive to other processes "
             f"than wall time)",
             f"{'model':<28}{'epoch':>6}{'wall s':>8}{'user s':>8}{'kernel s':>10}{'minor faults':>14}"
             f"{'first 2 steps s':>18}"]
    for r in fig["rows"]:
        steps = " ".join(f"{t:.3f}" for t in r["first_steps_cpu_s"])
        lines.append(f"{r['model']:<28}{r['epoch']:>6}{r.get('wall_s', float('nan')):>8.2f}{r['user_s']:>8.2f}{r['sys_s']:>10.2f}{r['minor_faults']:>14}"
                     f"{steps:>18}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf first-epoch", description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=160, help="demo train sketches per class")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.per_class, args.batch_size, args.threads, args.device)
    emit(figures, args.json, format_table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
