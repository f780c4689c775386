"""Bring stored run records up to date without running anything again. ::

    python -m benchmark.report.migrate results/demo results/quickdraw30 ...   # rewrite the records
    python -m benchmark.report.migrate --check results/demo                    # exit 1 when one would change

Per record (``FOLDER/runs/*.json``), two things, and nothing that was measured (values, intervals,
``n``, per-sketch rows, configurations other than paths stay as they are):

* **Declarations** of a task whose registered version equals the record's (the same scoring, by
  the rule that a task bumps its version whenever scoring changes) are refreshed from the task's
  current declaration: each metric's label, headline, kind, format, control_of, position, test,
  same and description, and the task's family, question and row_facts. A metric whose direction,
  per-sketch field or aggregation differs from the current declaration is left alone (and
  reported): that would be another scoring. Records of other task versions, or of tasks no plugin
  registers, keep their declarations (the reader fills missing fields with defaults).
* **References**: absolute paths of the machine that made the record become portable references
  (:func:`benchmark.records.portable_paths`).

Each change is listed in the record's ``migrated`` list (what, and by which sketchxai-bench
version); files are rewritten through a temporary file and a rename.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError

#: Declaration keys refreshed from the current task (never the scoring: direction, field, aggregation).
REFRESHED = ("description", "unit", "label", "headline", "kind", "position", "test", "same", "format", "control_of",
             "validation")
SCORING = ("higher_is_better", "field", "aggregation")
TASK_FIELDS = ("family", "question", "row_facts")


def _task_declarations(record: dict[str, Any], task_cls) -> tuple[dict[str, Any], list[str]]:
    """The record's task and metrics with the current declarations of ``task_cls`` (same version)."""
    task = dict(record["task"])
    task.update({"family": task_cls.family or task_cls.name, "question": task_cls.question,
                 "row_facts": list(task_cls.row_facts)})
    metrics, kept = {}, []
    positions = {name: i for i, name in enumerate(task_cls.metrics)}
    variant = ",".join(str(v) for v in (record["task"].get("variant") or {}).values())
    for name, entry in record["metrics"].items():
        spec = task_cls.metrics.get(name)
        if spec is None:
            metrics[name] = entry
            continue
        current = spec.declaration(positions[name], variant)
        if any(_norm(entry.get(k)) != _norm(current[k]) for k in SCORING):
            kept.append(name)
            metrics[name] = entry
            continue
        metrics[name] = {**entry, **{k: current[k] for k in REFRESHED}}
        metrics[name].pop("declared", None)
    return {"task": task, "metrics": metrics}, kept


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def migrate_record(record: dict[str, Any], tasks: dict[str, type], folder: Path,
                   warn: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """``record`` (as stored, schema 2 or 3) brought up to date; ``folder``: its results folder."""
    from benchmark import __version__
    from benchmark.records import portable_paths

    out = json.loads(json.dumps(record))
    notes = list(out.get("migrated") or [])
    task_cls = tasks.get(out["task"]["name"])
    if task_cls is not None and str(task_cls.version) == str(out["task"]["version"]) and out.get("schema_version", 1) >= 2:
        refreshed, kept = _task_declarations(out, task_cls)
        if refreshed["task"] != out["task"] or refreshed["metrics"] != out["metrics"]:
            out.update(refreshed)
            notes.append(f"declarations refreshed from task {task_cls.name} v{task_cls.version} "
                         f"(sketchxai-bench {__version__}); measured values unchanged")
        for name in kept:
            warn(f"{out['run_id']}: metric {name!r} is scored differently by the current task; declaration kept")
    moved = portable_paths(out, folder)
    if moved:
        notes.append(f"machine paths made portable ({', '.join(moved)}) by sketchxai-bench {__version__}")
    if notes != list(record.get("migrated") or []):
        out["migrated"] = notes
    return out


def migrate(folders: Sequence[str | Path], check: bool = False,
            warn: Callable[[str], None] = lambda text: None) -> list[Path]:
    """Migrate every record of ``folders``; returns the files that changed (or would change)."""
    from benchmark.plugins import get_manager
    from benchmark.records import atomic_write_text, load_records

    tasks = get_manager().tasks
    changed = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise BenchError(f"results folder {folder} does not exist")
        records, problems = load_records(folder)
        for problem in problems:
            warn(f"skipped {problem}")
        for loaded in records:
            path = Path(loaded["_path"])
            stored = json.loads(path.read_text(encoding="utf-8"))
            new = migrate_record(stored, tasks, folder, warn)
            if new == stored:
                continue
            changed.append(path)
            if not check:
                atomic_write_text(path, json.dumps(new, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.report.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="results folders holding runs/*.json")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a record would change")
    args = parser.parse_args(argv)

    def warn(text: str) -> None:
        print(f"migrate: {text}", file=sys.stderr)

    try:
        changed = migrate(args.folders, args.check, warn)
    except BenchError as exc:
        print(f"migrate: error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{'would migrate' if args.check else 'migrated'} {path}", file=sys.stderr)
    if not changed:
        print("migrate: every record is up to date", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
