"""``bench perf``: throughput figures, each measured side by side with its baseline in one run.

Timed figures live here, never in tests. Each target is a module with ``main(argv) -> int``.
"""

from __future__ import annotations

import importlib

TARGETS = {
    "data": ("benchmark.perf_data", "HDF5 random-access reads through the collate vs one dataset per sketch"),
    "recognition": ("benchmark.perf_recognition",
                    "stroke_vit_tiny train/eval on the 30 real categories vs the published implementation"),
    "baselines": ("benchmark.perf_baselines", "train/eval sketches/s of every baseline encoder"),
    "sli": ("benchmark.perf_sli", "batched SLI vs the published one-sketch-at-a-time loop"),
    "contention": ("benchmark.perf_contention",
                   "a training step alone vs beside a busy process, all-cores threads vs the idle-core default"),
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("perf", help="measure throughput (side by side with its baseline)",
                                   description="\n".join(f"{k}: {v[1]}" for k, v in TARGETS.items()))
    parser.add_argument("target", nargs="?", default="all", choices=[*TARGETS, "all"])
    parser.add_argument("args", nargs="*", help="options passed to the target (after --)")
    parser.set_defaults(func=run)


def run(args) -> int:
    names = list(TARGETS) if args.target == "all" else [args.target]
    status = 0
    for name in names:
        if len(names) > 1:
            print(f"\n== {name}: {TARGETS[name][1]}", flush=True)
        main = importlib.import_module(TARGETS[name][0]).main
        status = max(status, int(main(args.args) or 0))
    return status
