"""``bench perf``: throughput figures, each measured side by side with its baseline in one run.

Timed figures live here, never in tests. Targets are registered by plugins (hook
``bench_register_perf_targets``); each is a module with ``main(argv) -> int`` that prints a table,
or with ``--json`` in ``argv`` its figures as one JSON value. ``bench perf --json`` runs the targets
that way and prints one JSON object, target name -> figures.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("perf", help="measure throughput (side by side with its baseline)",
                                   description="targets: `bench perf list` names them")
    parser.add_argument("target", nargs="?", default="all", help="a target name, 'all' (default) or 'list'")
    parser.add_argument("args", nargs="*", help="options passed to the target (after --)")
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object")
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
    figures = {}
    for name in names:
        main = importlib.import_module(targets[name][0]).main
        if args.json:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                status = max(status, int(main([*args.args, "--json"]) or 0))
            figures[name] = json.loads(printed.getvalue())
            continue
        if len(names) > 1:
            print(f"\n== {name}: {targets[name][1]}", flush=True)
        sys.stdout.flush()
        status = max(status, int(main(args.args) or 0))
    if args.json:
        print(json.dumps(figures, indent=2))
    return status
