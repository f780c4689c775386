"""``bench perf``: throughput figures, each measured side by side with its baseline in one run.

Timed figures live here, never in tests. Targets are registered by plugins (hook
``bench_register_perf_targets``); each is a module with ``main(argv) -> int``.
"""

from __future__ import annotations

import importlib
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("perf", help="measure throughput (side by side with its baseline)",
                                   description="targets: `bench perf list` names them")
    parser.add_argument("target", nargs="?", default="all", help="a target name, 'all' (default) or 'list'")
    parser.add_argument("args", nargs="*", help="options passed to the target (after --)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from benchmark.errors import unknown_name
    from benchmark.plugins import get_manager

    targets = get_manager().perf_targets()
    if args.target == "list":
        for name, (_, description) in targets.items():
            print(f"{name}: {description}")
        return 0
    if args.target != "all" and args.target not in targets:
        raise unknown_name("perf target", args.target, [*targets, "all", "list"])
    names = list(targets) if args.target == "all" else [args.target]
    status = 0
    for name in names:
        if len(names) > 1:
            print(f"\n== {name}: {targets[name][1]}", flush=True)
        sys.stdout.flush()
        main = importlib.import_module(targets[name][0]).main
        status = max(status, int(main(args.args) or 0))
    return status
