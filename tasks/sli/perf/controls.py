"""What the SLI controls and presets cost (``bench perf controls``), side by side in one run.

Variants, all on the same sketches, starts and stroke_vit_tiny weights, batched as the SLI tasks
run them: ``published`` (the inversion alone), ``published + control`` (plus the random-weights
control, as every ``sli_recovery`` run now does) and ``bounded + control`` (the bounded preset, which
stops sketches that reach the target). The ratio column is each variant's time over the inversion
alone: the control is one more inversion of the same batch, so about 2. ``--device cuda``: on the
GPU, each batch inverted whole (as the tasks do there).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from benchmark.perf import add_device_option, clock, device_name


def measure(sketches: int = 200, steps: int = 100, threads: int = 2, seed: int = 0, device=None) -> dict[str, Any]:
    import torch

    from benchmark.batch import collate
    from encoders.stroke_vit import StrokeViTTiny
    from benchmark.model import fresh_module, freeze
    from tasks.sampling import start_locations
    from tasks.sli.inversion import Protocol, invert_many
    from tasks.sli.perf.batched import load_sketches
    from tasks.sli.protocol import PRESETS

    device = device or torch.device("cpu")
    workers = threads if device.type == "cpu" else 1
    torch.set_num_threads(threads)
    data, labels, source = load_sketches(sketches, seed)
    num_classes = int(labels.max()) + 1
    model = freeze(fresh_module(StrokeViTTiny, num_classes, {}, seed, device))
    control = freeze(fresh_module(StrokeViTTiny, num_classes, {}, seed + 1, device))
    batch = collate(data, labels, np.arange(len(data))).to(device)
    start = start_locations(batch, "randn", 0.1, seed)
    published = Protocol(steps=steps)
    bounded = Protocol(steps=steps, **PRESETS["bounded"])
    invert_many(model, batch.select(torch.arange(2)), start[:2], batch.labels[:2], Protocol(steps=2))  # warm-up

    def timed(models, protocol) -> float:
        began = clock(device)
        for module in models:
            invert_many(module, batch, start, batch.labels, protocol, workers=workers)
        return clock(device) - began

    rows = []
    for name, models, protocol in (("published", (model,), published),
                                   ("published + control", (model, control), published),
                                   ("bounded + control", (model, control), bounded)):
        rows.append({"variant": name, "seconds": timed(models, protocol)})
    base = rows[0]["seconds"]
    for row in rows:
        row["sketches_per_s"] = len(data) / row["seconds"]
        row["x_alone"] = row["seconds"] / base
    return {"target": "controls", "device": device_name(device), "source": source, "sketches": len(data),
            "steps": steps, "threads": threads, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf controls", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sketches", type=int, default=200)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    out = measure(args.sketches, args.steps, args.threads, device=args.device)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"SLI controls and presets: {out['sketches']} sketches of {out['source']}, {out['steps']} steps, "
          f"{out['device']}, {out['threads']} threads")
    print(f"{'variant':<22} {'seconds':>8} {'sketches/s':>11} {'x alone':>8}")
    for row in out["rows"]:
        print(f"{row['variant']:<22} {row['seconds']:>8.2f} {row['sketches_per_s']:>11.2f} {row['x_alone']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
