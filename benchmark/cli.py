"""The ``bench`` command line. ``bench --help`` lists the commands."""

from __future__ import annotations

import argparse
import errno
import fnmatch
import importlib.util
import json
import os
import sys
from collections.abc import Sequence

from benchmark import __version__
from benchmark.errors import BenchError, Terminated

DEFAULT_RESULTS = "results"
#: ``bench run --help``'s examples (tests/test_examples.py runs each, the costly ones with --dry-run).
RUN_EXAMPLES = """examples:
  bench run                          the whole benchmark on demo: train, rely, invert, explain, then the report
  bench run --dry-run                what that would run (planned and checked, nothing run)
  bench run --encoder seq_lstm --dry-run     the whole benchmark for one encoder (what it cannot take: skipped)
  bench run --explainer gradient --dry-run   the attribution tasks for one explainer, beside occlusion and the controls
  bench run --task recognition --encoder seq_lstm --set epochs=2    --task narrows to the tasks named
  bench run --set encoder.num_layers=6 --set data.max_strokes=64 --set task.max_sketches=50
  bench run --set epochs=2 --results /tmp/bench-results --report /tmp/bench-report
  bench run --data qd30.h5 --nproc 2   the same on real QuickDraw (bench data prepare), two processes
  bench run --tensorboard runs-tb --set epochs=2    then: tensorboard --logdir runs-tb
"""


#: ``bench --help``'s examples (tests/test_examples.py runs each, the costly ones with --dry-run).
MAIN_EXAMPLES = """examples:
  bench run                                  the whole benchmark on the demo data, then the report
  bench run --encoder seq_lstm --dry-run     what the benchmark would run for one encoder
  bench list encoders                        what is registered (also tasks, datasets, explainers, plugins)
  bench leaderboard                          the boards of the run records in ./results
  bench perf list                            the throughput targets
  bench data prepare --source quickdraw/full/simplified --categories 30 --out qd30.h5
"""
#: ``bench list --help``'s examples.
LIST_EXAMPLES = """examples:
  bench list encoders                        name, capabilities, plugin, description
  bench list encoders '*vit*'                a shell-style filter on names
  bench list tasks --json                    every setting and metric declaration
  bench list plugins                         built-ins, entry points and files, broken ones with why
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="sketchxai-bench: XAI benchmarks on human sketches.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=MAIN_EXAMPLES)
    parser.add_argument("--version", action="version", version=f"sketchxai-bench {__version__}")
    parser.add_argument("--plugin", action="append", default=[], metavar="PATH",
                        help="load a one-file plugin (a .py path or module name); repeatable")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ls = sub.add_parser("list", help="list registered encoders, tasks, datasets, explainers or plugins",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=LIST_EXAMPLES)
    ls.add_argument("what", choices=["encoders", "tasks", "datasets", "explainers", "plugins"])
    ls.add_argument("pattern", nargs="?", default="*", help="shell-style filter on names, e.g. '*vit*'")
    ls.add_argument("--json", action="store_true", help="print JSON on stdout")
    ls.set_defaults(func=cmd_list)

    rn = sub.add_parser("run", help="run tasks on encoders and write one run record per pair",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RUN_EXAMPLES)
    rn.add_argument("--task", action="append",
                    help="task name; repeatable (default: the whole benchmark, for the named or default encoders and data)")
    rn.add_argument("--encoder", action="append", help="encoder name; repeatable (default: the built-in defaults)")
    rn.add_argument("--data", help="dataset name or prepared .h5 path (default: the built-in defaults)")
    rn.add_argument("--explainer", action="append",
                    help="explainer name for tasks with an `explainer` setting; repeatable (one run each; the "
                         "control explainers always run too; without --task: the benchmark's attribution tasks, "
                         "beside its reference explainers)")
    rn.add_argument("--nproc", type=int, default=1, help="local worker processes (torch.distributed)")
    rn.add_argument("--seed", type=_seeds, default=[0], metavar="S[,S...]",
                    help="run seed; several (0,1,2) run everything once per seed and the leaderboard "
                         "aggregates them with an interval that includes the variance between seeds")
    rn.add_argument("--results", default=DEFAULT_RESULTS, help="results folder; records go to RESULTS/runs/")
    rn.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a setting: TASK.key=value for one task by name (also one trained on another "
                         "task's behalf), task.key=value for every task of the command that has the key, "
                         "encoder.key=value, data.key=value (e.g. data.max_strokes=64); a bare key where only one "
                         "of task, encoder, data has it")
    rn.add_argument("--checkpoint", metavar="SOURCE",
                    help="trained classifier: a checkpoint folder of sketchxai-bench, or a published checkpoint the "
                         "encoder loads (the stroke-aware ViTs: a .safetensors/.bin file, a hub-layout folder with "
                         "config.json + pytorch_model.bin, a hub id such as WinKawaks/SketchXAI-Base-QuickDraw30); "
                         "default: found in the run records, else trained first")
    rn.add_argument("--resume", action="store_true", help="resume the newest unfinished run with the same config")
    rn.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    rn.add_argument("--threads", type=int, help="torch threads per process")
    rn.add_argument("--dry-run", action="store_true",
                    help="plan the runs and check every setting, print what would run, run nothing")
    rn.add_argument("--report", metavar="DIR",
                    help="then write the HTML report of the results folder to DIR and print the leaderboard "
                         "(bench run with no --task, --encoder or --data: RESULTS/report)")
    rn.add_argument("--tensorboard", metavar="DIR",
                    help="write TensorBoard event files of every run to DIR/<run id>/ (needs the [tensorboard] "
                         "extra; same as BENCH_TENSORBOARD=DIR)")
    rn.set_defaults(func=cmd_run)

    for module in ("benchmark.data.cli", "benchmark.report.cli", "benchmark.perf"):
        try:
            add = __import__(module, fromlist=["add_parser"]).add_parser
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        add(sub)
    return parser


def cmd_list(args) -> int:
    from benchmark.plugins import get_manager

    manager = get_manager()
    if args.what == "plugins":
        # collect registrations so registration errors show up as broken plugins too
        for kind in ("encoder", "task", "dataset", "explainer"):
            manager.registry(kind, conflicts_ok=True)
        rows = [p.as_dict() for p in manager.plugins.values()]
        rows = [r for r in rows if fnmatch.fnmatch(r["name"], args.pattern)]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        _table(["plugin", "source", "version", "status", "registers / error"],
               [[r["name"], r["source"], r["version"], r["status"],
                 r["error"] or ", ".join(r["registered"]) or "-"] for r in rows])
        return 0
    kind = args.what[:-1]
    rows = []
    for name, entry in sorted(manager.registry(kind).items()):
        if not fnmatch.fnmatch(name, args.pattern):
            continue
        cls = entry.cls
        row = {"name": name, "plugin": entry.plugin, "plugin_version": entry.plugin_version,
               "version": cls.version, "description": cls.summary(), "defaults": cls.defaults}
        if kind == "encoder":
            row["capabilities"] = sorted(cls.capabilities)
        elif kind == "task":
            row["requires"] = sorted(cls.requires)
            row["metrics"] = {m: s.declaration(i) for i, (m, s) in enumerate(cls.metrics.items())}
            row["row_keys"] = list(cls.row_keys)
        elif kind == "explainer":
            row["requires"] = sorted(cls.requires)
            row["control"] = cls.control
        else:
            row["synthetic"] = cls.synthetic
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    extra = {"encoder": ("capabilities", lambda r: ", ".join(r["capabilities"]) or "-"),
             "task": ("requires", lambda r: ", ".join(r["requires"]) or "-"),
             "explainer": ("requires", lambda r: ", ".join(r["requires"]) or "-"),
             "dataset": ("synthetic", lambda r: "yes" if r["synthetic"] else "no")}[kind]
    _table([kind, "plugin", "version", extra[0], "description"],
           [[r["name"], r["plugin"], r["version"], extra[1](r), r["description"]] for r in rows])
    broken = [p for p in manager.plugins.values() if p.error]
    if broken:
        print(f"{len(broken)} plugin(s) broken: {', '.join(p.name for p in broken)} (see `bench list plugins`)",
              file=sys.stderr)
    return 0


def _table(header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*header, box=None, pad_edge=False, highlight=False)
    for row in rows:
        table.add_row(*[str(c) for c in row])
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole numbers separated by commas, e.g. 0,1,2") from None
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: seeds must be >= 0")
    return seeds


def cmd_run(args) -> int:
    from benchmark import run
    from benchmark.plugins import get_manager

    manager = get_manager()
    defaults = manager.run_defaults()
    tasks, encoders, data = (args.task or defaults.get("tasks"), args.encoder or defaults.get("encoders"),
                             args.data or defaults.get("data"))
    overrides, report, explainers = list(args.overrides), args.report, args.explainer
    benchmark = defaults.get("benchmark")
    skipped = None
    if benchmark and not args.task:  # no --task: the whole benchmark, for the named (or default) encoders and data
        tasks = benchmark.get("tasks") or tasks
        overrides = [*benchmark.get("set", []), *overrides]
        report = report or os.path.join(args.results, "report")
        skipped = []
        if args.explainer:  # --explainer alone: the tasks that take one, beside the reference explainers
            tasks = [t for t in tasks if run.EXPLAINER in manager.task(t).defaults]
            explainers = list(dict.fromkeys([*args.explainer, *benchmark.get("explainers", [])]))
    if not (tasks and encoders and data):
        raise BenchError("no default tasks, encoders or data (no plugin implements bench_run_defaults): name them "
                         "with --task, --encoder and --data")
    if args.nproc < 1:
        raise BenchError("--nproc must be at least 1")
    if args.tensorboard:
        os.environ["BENCH_TENSORBOARD"] = os.path.abspath(args.tensorboard)  # worker processes inherit it
    if os.environ.get("BENCH_TENSORBOARD", "").strip() and importlib.util.find_spec("tensorboard") is None:
        raise BenchError("--tensorboard / BENCH_TENSORBOARD needs TensorBoard: install it with "
                         "pip install -e '.[tensorboard]'")
    specs = run.plan(list(tasks), list(encoders), data, args.seed, args.results, overrides, args.checkpoint,
                     args.resume, explainers=explainers, skipped=skipped)
    if args.dry_run:
        for spec in specs:
            first = f" (training a {spec.classifier.task} classifier first if {args.results} holds none)" \
                if spec.classifier else f" (classifier {spec.checkpoint})" if spec.checkpoint else ""
            print(f"would run {run.describe(spec)}{first}")
        for line in skipped or ():
            print(line)
        if report:
            print(f"then write the report to {report}")
        return 0
    records = run.run(specs, nproc=args.nproc, plugin_files=tuple(args.plugin), device=args.device,
                      threads=args.threads)
    for record in records:
        metrics = ", ".join(f"{k}={_fmt(v)}" for k, v in record["metrics"].items())
        named = "".join(f" · {k} {v}" for k, v in ((record.get("task") or {}).get("variant") or {}).items())
        named += "".join(f" · {k} {v}" for k, v in ((record.get("task") or {}).get("row_keys") or {}).items())
        print(f"{record['run_id']}{named}: {metrics}")
        print(f"  record: {os.path.join(args.results, 'runs', record['run_id'] + '.json')}")
    for line in skipped or ():
        print(line)
    if report:
        _report(args.results, report)
    return 0


def _report(results: str, out: str) -> None:
    """The HTML report of ``results`` into ``out``; its path and the terminal leaderboard on stdout."""
    from benchmark.report import leaderboard, render
    from benchmark.report.cli import warn
    from benchmark.report.html import write_report

    board = leaderboard.build(results, warn=warn)
    index = write_report(board, out, warn=warn)
    print()
    if sys.stdout.isatty():
        from rich.console import Console

        render.table(board, console=Console(highlight=False))
    else:
        sys.stdout.write(render.render(board, "table"))
    print(f"\nreport: {index}")


def _fmt(metric: dict) -> str:
    value = metric.get("value")
    if value is None:
        return "n/a"
    text = f"{value:.4g}"
    if metric.get("ci_low") is not None:
        text += f" [{metric['ci_low']:.4g}, {metric['ci_high']:.4g}]"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from benchmark.plugins import configure

    configure(tuple(args.plugin))
    try:
        return int(args.func(args) or 0)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full anywhere (a checkpoint, a state file): one line, no traceback
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"bench: error: cannot write {exc.filename or 'a file'}: {exc.strerror}; free some space and "
              "run again", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"bench: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
