"""Regenerate the committed leaderboards from the committed run records, byte for byte.

Every folder under ``results/`` holding ``runs/*.json`` (``results/demo``, ``results/validation/demo``)
gets ``LEADERBOARD.md``, ``leaderboard.csv`` and ``leaderboard.json``: exactly what ``bench leaderboard
--results FOLDER --format md|csv|json`` prints (default rules, no filters). ``--check`` also renders
each folder's HTML report (into a temporary folder) and fails, naming the folder, when one cannot be
rendered. ::

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
    found = sorted(runs.parent for runs in results.rglob("runs")
                   if runs.is_dir() and "runs" not in runs.parent.relative_to(results).parts
                   and any(runs.glob("*.json")))
    if not found:
        raise BenchError(f"no {results}/<name>/runs/*.json records to publish; see {results}/README.md")
    return found


def expected(folder: Path) -> dict[Path, str]:
    """``{file: text}`` that the records of ``folder`` give."""
    from benchmark.report import leaderboard, render

    board = leaderboard.build(folder, warn=lambda text: print(f"publish: {folder}: {text}", file=sys.stderr))
    return {folder / name: render.render(board, fmt) for name, fmt in OUTPUTS.items()}


def render_problem(folder: Path) -> str | None:
    """Why the HTML report of ``folder`` cannot be rendered (``None`` when it renders)."""
    import tempfile

    from benchmark.report import leaderboard
    from benchmark.report.html import write_report

    with tempfile.TemporaryDirectory(prefix="publish-check-") as tmp:
        try:
            write_report(leaderboard.build(folder), Path(tmp) / "report")
        except Exception as exc:  # noqa: BLE001 - any failure is a folder that does not render
            return f"{exc.__class__.__name__}: {exc}"
    return None


def publish(results: str | Path, check: bool = False, problems: list[str] | None = None) -> list[Path]:
    """Write (or with ``check`` only compare) every leaderboard; returns the files that changed
    (or would change). With ``check``, a folder whose HTML report cannot be rendered is added to
    ``problems`` (one line each)."""
    from benchmark.records import atomic_write_text

    changed = []
    for folder in collections(results):
        if check and problems is not None and (problem := render_problem(folder)):
            problems.append(f"{folder}: the HTML report cannot be rendered ({problem})")
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
    problems: list[str] = []
    try:
        changed = publish(args.results, args.check, problems)
    except BenchError as exc:
        print(f"publish: error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{'stale' if args.check else 'wrote'} {path}", file=sys.stderr)
    for problem in problems:
        print(f"publish: {problem}", file=sys.stderr)
    if not changed and not problems:
        print("publish: every leaderboard is up to date" + (" and every report renders" if args.check else ""),
              file=sys.stderr)
    return 1 if args.check and (changed or problems) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
