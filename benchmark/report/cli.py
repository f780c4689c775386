"""``bench leaderboard``: the leaderboard of a results folder as a table, Markdown, CSV, JSON or an
HTML report folder (rules in :mod:`benchmark.report.leaderboard`)."""

from __future__ import annotations

import argparse

import sys
from pathlib import Path

from benchmark.errors import BenchError

FORMATS = ("table", "md", "csv", "json", "html")
SUFFIXES = {".md": "md", ".markdown": "md", ".csv": "csv", ".json": "json", ".txt": "table"}


#: ``bench leaderboard --help``'s examples (tests/test_examples.py runs each on the committed records).
EXAMPLES = """examples:
  bench leaderboard                                   the boards of ./results, fitted to the terminal
  bench leaderboard --task sli_recovery --format md   one task's columns as Markdown
  bench leaderboard --format csv --out leaderboard.csv
  bench leaderboard --out report                      the HTML report (a folder: report/index.html)
"""


def add_parser(subparsers) -> None:
    lb = subparsers.add_parser("leaderboard", help="rank encoders from the run records of a results folder",
                               formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    lb.add_argument("--results", default="results", help="results folder holding runs/*.json (default results)")
    lb.add_argument("--format", choices=FORMATS,
                    help="table (default; rich), md, csv, json, or html (a report folder: needs --out DIR); "
                         "default from the --out suffix")
    lb.add_argument("--out", help="write to this file (html: this folder) instead of stdout")
    lb.add_argument("--task", action="append", default=[], help="only this task's columns; repeatable")
    lb.add_argument("--data", action="append", default=[], help="only this dataset (name); repeatable")
    lb.add_argument("--all", action="store_true", help="every run as its own row (no superseding, all task versions)")
    lb.add_argument("--all-metrics", action="store_true",
                    help="every metric of the shown tasks as a column (default: each task's headline metrics)")
    lb.add_argument("--wide", action="store_true",
                    help="table: every headline column, however wide (default: each board fits the terminal, "
                         "naming the columns it leaves out)")
    lb.set_defaults(func=handler)


def warn(text: str) -> None:
    print(f"bench leaderboard: {text}", file=sys.stderr)


def output_format(out: str | None) -> str:
    """The format ``--out`` implies: none -> table, a suffix in :data:`SUFFIXES`, no suffix -> html."""
    if not out:
        return "table"
    suffix = Path(out).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if not suffix:
        return "html"
    raise BenchError(f"--out {out}: cannot tell the format from the suffix; add --format ({', '.join(FORMATS)})")


def handler(args) -> int:
    from benchmark.report import leaderboard, render
    from benchmark.records import atomic_write_text

    fmt = args.format or output_format(args.out)
    if fmt == "html" and not args.out:
        raise BenchError("--format html writes a report folder: add --out DIR")
    board = leaderboard.build(args.results, args.task, args.data, args.all, warn=warn, all_metrics=args.all_metrics)
    if fmt == "html":
        from benchmark.report.html import write_report

        index = write_report(board, args.out, warn=warn)
        warn(f"wrote {index}")
        return 0
    if fmt == "table" and not args.out and sys.stdout.isatty() and not args.wide:
        from rich.console import Console

        render.table(board, console=Console(highlight=False))
        return 0
    text = render.render(board, fmt, width=0 if args.wide else None)
    if args.out:
        atomic_write_text(args.out, text)
        warn(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0
