"""Regenerate the committed leaderboards from the committed run records, byte for byte.

Every sub-folder ``results/<name>/`` holding ``runs/*.json`` gets ``LEADERBOARD.md``,
``leaderboard.csv`` and ``leaderboard.json``: exactly what ``bench leaderboard --results
results/<name> --format md|csv|json`` prints (default rules, no filters). ::

    python -m benchmark.report.publish            # rewrite the files
    python -m benchmark.report.publish --check    # exit 1 and name the files that differ from the records
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmark.errors import BenchError

OUTPUTS = {"LEADERBOARD.md": "md", "leaderboard.csv": "csv", "leaderboard.json": "json"}


def collections(results: str | Path) -> list[Path]:
    """The sub-folders of ``results`` that hold run records, sorted."""
    results = Path(results)
    if not results.is_dir():
        raise BenchError(f"results folder {results} does not exist")
    found = sorted(p for p in results.iterdir() if p.is_dir() and any((p / "runs").glob("*.json")))
    if not found:
        raise BenchError(f"no {results}/<name>/runs/*.json records to publish; see {results}/README.md")
    return found


def expected(folder: Path) -> dict[Path, str]:
    """``{file: text}`` that the records of ``folder`` give."""
    from benchmark.report import leaderboard, render

    board = leaderboard.build(folder, warn=lambda text: print(f"publish: {folder}: {text}", file=sys.stderr))
    return {folder / name: render.render(board, fmt) for name, fmt in OUTPUTS.items()}


def publish(results: str | Path, check: bool = False) -> list[Path]:
    """Write (or with ``check`` only compare) every leaderboard; returns the files that changed
    (or would change)."""
    from benchmark.records import atomic_write_text

    changed = []
    for folder in collections(results):
        for path, text in expected(folder).items():
            current = path.read_bytes() if path.is_file() else None
            if current == text.encode("utf-8"):
                continue
            changed.append(path)
            if not check:
                atomic_write_text(path, text)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.report.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="folder of record collections (default results)")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    try:
        changed = publish(args.results, args.check)
    except BenchError as exc:
        print(f"publish: error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{'stale' if args.check else 'wrote'} {path}", file=sys.stderr)
    if not changed:
        print("publish: every leaderboard is up to date", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
