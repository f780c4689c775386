"""Throughput of the baseline encoders on synthetic sketches (CPU, 2 threads by default; ``--device cuda``: the GPU).

``bench perf baselines`` prints sketches per second for training (forward, cross
entropy, backward), evaluation (forward without gradients, eval mode) and one stroke location
inversion step (eval mode, gradient with respect to stroke start locations only), plus the
rasteriser alone. The sketches are synthetic (smooth random strokes), not drawn by people.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from benchmark.perf import add_device_option, clock, device_name


def synthetic_sketches(n: int, rng: np.random.Generator, strokes: tuple[int, int] = (3, 7),
                       points: tuple[int, int] = (10, 20)) -> list[np.ndarray]:
    """``n`` sketches of smooth random strokes (a few strokes of 10-20 points by default),
    normalised like the reference: the longer side of the bounding box spans [-0.74, 0.74]."""
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.integers(strokes[0], strokes[1] + 1)):
            k = int(rng.integers(points[0], points[1] + 1))
            heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.3, k))
            steps = np.stack([np.cos(heading), np.sin(heading)], 1) * rng.uniform(0.02, 0.08)
            xy = rng.uniform(-1, 1, 2) + np.cumsum(steps, 0)
            part = np.zeros((k, 3), np.float32)
            part[:, :2], part[-1, 2] = xy, 1
            parts.append(part)
        sketch = np.concatenate(parts)
        lo, hi = sketch[:, :2].min(0), sketch[:, :2].max(0)
        sketch[:, :2] = (sketch[:, :2] - (lo + hi) / 2) / (hi - lo).max() * 1.48
        out.append(sketch)
    return out


def _rate(fn, batch_size: int, repeats: int, device=None) -> float:
    """Sketches per second of the fastest of ``repeats`` timed calls (after one warm-up call): the
    least disturbed by other work on a shared machine."""
    fn()
    times = []
    for _ in range(repeats):
        start = clock(device)
        fn()
        times.append(clock(device) - start)
    return batch_size / min(times)


def measure(batch_size: int = 100, num_classes: int = 345, repeats: int = 3, threads: int = 2,
            seed: int = 0, device=None) -> dict[str, dict[str, Any]]:
    """``{name: {"params", "train", "eval", "sli"}}`` (best-of-``repeats`` rates in sketches/s) for
    every baseline on ``device`` (default the CPU; the batch already there), and ``"rasterise_64"``
    (``"eval"``: forward, ``"sli"``: forward and backward) for the rasteriser alone."""
    import torch
    import torch.nn.functional as F

    from benchmark.batch import collate
    from encoders.baselines import ENCODERS
    from encoders.baselines.rasterise import render

    device = device or torch.device("cpu")
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    batch = collate(synthetic_sketches(batch_size, rng), rng.integers(0, num_classes, batch_size)).to(device)
    results: dict[str, dict[str, Any]] = {}

    def raster_fwd():
        with torch.no_grad():
            render(batch)

    def raster_bwd():
        loc = batch.locations.clone().requires_grad_()
        render(batch, loc).sum().backward()

    results["rasterise_64"] = {"params": None, "train": None, "eval": _rate(raster_fwd, batch_size, repeats, device),
                               "sli": _rate(raster_bwd, batch_size, repeats, device)}
    for cls in ENCODERS:
        torch.manual_seed(seed)
        model = cls.build(num_classes, dict(cls.defaults)).to(device)

        def train():
            model.train()
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(batch), batch.labels).backward()

        def evaluate():
            model.eval()
            with torch.no_grad():
                model(batch)

        def sli_step():
            model.eval()
            loc = batch.locations.clone().requires_grad_()
            loss = F.cross_entropy(model.forward_sli(prepared, loc), batch.labels)
            torch.autograd.grad(loss, loc)

        prepared = model.prepare_sli(batch)
        results[cls.name] = {"params": model.num_parameters(), "train": _rate(train, batch_size, repeats, device),
                             "eval": _rate(evaluate, batch_size, repeats, device),
                             "sli": _rate(sli_step, batch_size, repeats, device)}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf baselines", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--classes", type=int, default=345)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = measure(args.batch_size, args.classes, args.repeats, args.threads, device=args.device)
    if args.json:
        print(json.dumps({"device": device_name(args.device), "encoders": results}, indent=2, default=float))
        return 0

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"baseline throughput, sketches/s (batch {args.batch_size}, {device_name(args.device)}, "
                        f"{args.threads} threads, "
                        f"{args.classes} classes, synthetic sketches)")
    for col in ("encoder", "params", "train", "eval", "SLI step"):
        table.add_column(col, justify="left" if col == "encoder" else "right")
    for name, r in results.items():
        table.add_row(name, *("-" if r[k] is None else f"{r[k]:,.0f}" for k in ("params", "train", "eval", "sli")))
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
