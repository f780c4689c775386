"""``bench data prepare``, ``bench data verify`` and ``bench data download`` (wired into :mod:`benchmark.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.data.formats import FORMATS

_SETS = "30 (the SketchXAI list), 345 (all of QuickDraw), a file of names (one a line) or name,name,..."


#: ``bench data prepare --help``'s examples (tests/test_examples.py runs each, --source replaced by the real sample).
PREPARE_EXAMPLES = """examples:
  bench data prepare --source quickdraw/full/simplified --categories 30 --out qd30.h5
  bench data prepare --source quickdraw/full/simplified --categories cat,dog,apple --out three.h5 --max-per-category 20
  bench data prepare --source quickdraw/full/simplified --categories 30 --out qd30.h5 --force --workers 2
  bench data prepare --source quickdraw/full/simplified --categories all --out every.h5   every file in --source
"""
#: ``bench data download --help``'s examples (parsed by the tests: they need the internet).
DOWNLOAD_EXAMPLES = """examples:
  bench data download --categories 30 --format simplified --dest quickdraw/full/simplified
  bench data download --categories cat,dog --format sketchrnn --dest npz/
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` command (with ``prepare``, ``verify`` and ``download``) to an argparse ``subparsers``;
    each sets ``func=handler(args) -> exit code``."""
    data = subparsers.add_parser("data", help="download QuickDraw files and prepare them for runs",
                                 description="Download QuickDraw files and prepare them for runs.")
    sub = data.add_subparsers(dest="data_command", metavar="{prepare,verify,download}", required=True)

    p = sub.add_parser("prepare", help="QuickDraw files in a folder -> one HDF5 file with train/valid/test",
                       description="Read each category's file in --source (simplified or raw .ndjson, "
                                   "sketch-rnn .npz or .bin; detected) into one HDF5 file with "
                                   "train/valid/test splits (npz keeps its published splits; others "
                                   "are split by a hash of key_id).",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PREPARE_EXAMPLES)
    p.add_argument("--source", required=True, metavar="DIR", help="folder of <category>.<ext> files")
    p.add_argument("--categories", default="30", metavar="SET",
                   help=f"{_SETS}; all: every category in --source (default: 30)")
    p.add_argument("--out", required=True, metavar="FILE.h5", help="the file to write (atomically)")
    p.add_argument("--max-per-category", type=int, metavar="N", help="keep the first N good drawings a category")
    p.add_argument("--split-fractions", default="0.8,0.1,0.1", metavar="T,V,T",
                   help="train,valid,test fractions for ndjson/bin input (default: 0.8,0.1,0.1)")
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="on a bad drawing: stop (default) or skip it and count it")
    p.add_argument("--force", action="store_true",
                   help="replace --out even when it is not a sketchxai-bench data file")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes reading categories at once (default: the idle cores; the file is the same)")
    p.set_defaults(func=prepare_command)

    v = sub.add_parser("verify", help="check one prepared HDF5 file: its content checksum and every point",
                       description="Check a prepared file as every reader does (schema, content_checksum "
                                   "recomputed, coordinates finite and in range, end-of-stroke flags 0 or 1, "
                                   "labels in range); print `ok` and exit 0, or the problem in one line and exit 2.")
    v.add_argument("file", metavar="FILE.h5", help="the prepared file")
    v.set_defaults(func=verify_command)

    d = sub.add_parser("download", help="download QuickDraw files (resumable)",
                       description="Download one file per category from Google's public QuickDraw "
                                   "bucket (or --base-url), resuming partial files.",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=DOWNLOAD_EXAMPLES)
    d.add_argument("--categories", default="30", metavar="SET", help=f"{_SETS}; all: the 345 (default: 30)")
    d.add_argument("--format", required=True, choices=FORMATS,
                   help="simplified/raw ndjson, sketchrnn npz or binary .bin")
    d.add_argument("--dest", required=True, metavar="DIR", help="folder for <category>.<ext> files")
    d.add_argument("--base-url", default=None, metavar="URL",
                   help="mirror with the bucket's layout (default: Google's public bucket)")
    d.set_defaults(func=download_command)
    return data


def prepare_command(args: argparse.Namespace) -> int:
    from benchmark.data.categories import resolve_categories
    from benchmark.data.prepare import parse_fractions, prepare, source_categories

    categories = resolve_categories(args.categories, present=lambda: source_categories(Path(args.source)))
    report = prepare(args.source, categories, args.out,
                     max_per_category=args.max_per_category,
                     split_fractions=parse_fractions(args.split_fractions), on_error=args.on_error,
                     force=args.force, workers=args.workers)
    kept = report.counts["kept"]
    print(f"wrote {report.out}: {report.format} source, {len(report.counts['per_category'])} categories, "
          f"train {kept['train']} / valid {kept['valid']} / test {kept['test']} sketches "
          f"({report.sketches_per_second:.0f} sketches/s); checksum {report.checksum[:12]}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    """Exit 0 after printing ``ok`` and what the file holds; a problem raises the one-line BenchError (exit 2)."""
    from benchmark.data.h5store import open_h5

    data = open_h5(args.file)
    sizes = " / ".join(f"{name} {len(split)}" for name, split in sorted(data.splits.items()))
    print(f"{args.file}: ok ({len(data.categories)} categories, {sizes} sketches; checksum {data.checksum[:12]})")
    return 0


def download_command(args: argparse.Namespace) -> int:
    from benchmark.data.categories import resolve_categories
    from benchmark.data.download import DEFAULT_BASE_URL, download

    paths = download(resolve_categories(args.categories), args.format, args.dest,
                     base_url=args.base_url or DEFAULT_BASE_URL)
    print(f"{len(paths)} {args.format} file(s) in {args.dest}", file=sys.stdout)
    return 0
