"""Run records: one JSON file per (encoder, task, dataset) run, the only input of leaderboards.

Schema version 1 (``results/runs/<run_id>.json``)::

    schema_version  1
    run_id          str, unique: <UTC time>-<task>-<encoder>-<dataset>-<6 hex>
    created         ISO-8601 UTC start time;  finished: ISO-8601 UTC end time
    task            {name, version, plugin, plugin_version}
    encoder         {name, version, plugin, plugin_version, capabilities, parameters}
    dataset         {name, categories, num_categories, splits: {split: size}, checksum, synthetic, source, ...}
    config          {encoder: {...}, task: {...}, data: {...}}: the full resolved configuration
    seed            int;  world_size: int
    metrics         {name: {value, ci_low?, ci_high?, n?, higher_is_better, description, unit}}
    timings         {name: seconds}: at least total_s; the runner adds data_s (opening the dataset: near 0
                    when an earlier run of the same command had opened it) and task_s
    artifacts       {label: path relative to the record's folder}
    extra           task-specific facts (e.g. truncation counts), JSON
    versions        {sketchxai_bench, python, torch, transformers, numpy, plugins: {name: version}}
    git             {revision, dirty} or null outside a git checkout
    host            {hostname, platform, machine, cpu_count, torch_threads, device}
    notes           [str]: caveats a reader must see (e.g. "synthetic data")

Records are written atomically (temporary file, then rename) and validated before writing and when
read back; :func:`load_records` reports unreadable or foreign files instead of failing.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError

SCHEMA_VERSION = 1

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int, "run_id": str, "created": str, "finished": str, "task": dict, "encoder": dict,
    "dataset": dict, "config": dict, "seed": int, "world_size": int, "metrics": dict, "timings": dict,
    "artifacts": dict, "extra": dict, "versions": dict, "git": (dict, type(None)), "host": dict,
    "notes": list,
}
_NESTED = {
    "task": ("name", "version", "plugin"),
    "encoder": ("name", "version", "plugin", "capabilities", "parameters"),
    "dataset": ("name", "categories", "splits", "checksum", "synthetic"),
    "config": ("encoder", "task", "data"),
    "versions": ("sketchxai_bench", "python", "torch"),
}


class RecordError(BenchError):
    """A file that is not a valid run record."""


def validate(record: Any) -> list[str]:
    """Problems with ``record`` as a schema-1 run record (empty when valid)."""
    if not isinstance(record, dict):
        return ["not a JSON object"]
    if record.get("schema_version") != SCHEMA_VERSION:
        return [f"schema_version is {record.get('schema_version')!r}, expected {SCHEMA_VERSION}"]
    problems = []
    for key, typ in _REQUIRED.items():
        if key not in record:
            problems.append(f"missing {key!r}")
        elif not isinstance(record[key], typ) or isinstance(record[key], bool) and typ is int:
            problems.append(f"{key!r} has type {type(record[key]).__name__}")
    for key, fields in _NESTED.items():
        if isinstance(record.get(key), dict):
            problems += [f"missing {key}.{f}" for f in fields if f not in record[key]]
    for name, metric in (record.get("metrics") or {}).items():
        if not isinstance(metric, dict) or "value" not in metric or "higher_is_better" not in metric:
            problems.append(f"metric {name!r} needs 'value' and 'higher_is_better'")
        elif metric["value"] is not None and not isinstance(metric["value"], (int, float)):
            problems.append(f"metric {name!r} value is not a number")
    return problems


def write_record(folder: str | Path, record: dict[str, Any]) -> Path:
    """Validate ``record`` and write it to ``folder/<run_id>.json`` atomically; returns the path."""
    problems = validate(record)
    if problems:
        raise RecordError(f"refusing to write an invalid run record: {'; '.join(problems)}")
    return atomic_write_text(Path(folder) / f"{record['run_id']}.json",
                             json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, permissions: one line, the old file untouched
            raise BenchError(f"cannot write {path}: {exc.strerror or exc}; free some space (or fix "
                             "permissions) and run again; nothing was replaced") from None
        raise
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    """Read and validate one record, or raise :class:`RecordError` naming the file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON file ({exc})") from exc
    problems = validate(record)
    if problems:
        raise RecordError(f"{path}: not a run record ({'; '.join(problems[:4])})")
    return record


def load_records(folder: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every valid record in ``folder/runs/*.json`` (in ``folder/*.json`` where there is no
    ``runs`` folder), sorted by path, and a problem line for each ``.json`` file there that is not
    one. Artifact sub-folders, and the leaderboards written beside ``runs``, are not read."""
    folder = Path(folder)
    records, problems = [], []
    runs = folder / "runs"
    for path in sorted((runs if runs.is_dir() else folder).glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            record = read_record(path)
        except RecordError as exc:
            problems.append(str(exc))
            continue
        record["_path"] = str(path)
        records.append(record)
    return records, problems
