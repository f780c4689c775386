"""``bench perf``: throughput figures, each measured side by side with its baseline in one run.

Timed figures live here, never in tests. Targets are registered by plugins (hook
``bench_register_perf_targets``); each is a module with ``main(argv) -> int`` that prints a table,
or with ``--json`` in ``argv`` its figures as one JSON value. ``bench perf --json`` runs the targets
that way and prints one JSON object, target name -> figures. A target that stops is named on
stderr, the others still run, and the exit status is the worst one.
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
                code = _run_target(name, main, [*args.args, "--json"])
            status = max(status, code)
            if code == 0:
                figures[name] = json.loads(printed.getvalue())
            continue
        if len(names) > 1:
            print(f"\n== {name}: {targets[name][1]}", flush=True)
        sys.stdout.flush()
        status = max(status, _run_target(name, main, args.args))
    if args.json:
        print(json.dumps(figures, indent=2))
    return status


def _run_target(name: str, main, argv: list[str]) -> int:
    """A target's exit status; one that stops (a bad option, missing data) is named on stderr and
    the other targets still run (with ``--json``, the figures printed are those of the others)."""
    try:
        return int(main(argv) or 0)
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
        if code:
            detail = f": {exc.code}" if isinstance(exc.code, str) else ""
            print(f"bench perf: target {name!r} stopped (exit {code}){detail}; the other targets ran",
                  file=sys.stderr)
        return code
