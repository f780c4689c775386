"""Run records: one JSON file per (encoder, task, dataset) run, the only input of leaderboards.

Schema version 2 (``results/runs/<run_id>.json``)::

    schema_version  2
    run_id          str, unique: <UTC time>-<task>-<encoder>-<dataset>-<6 hex>
    created         ISO-8601 UTC start time;  finished: ISO-8601 UTC end time
    task            {name, version, plugin, plugin_version, order, variant, row_keys}: variant = {key: value}
                    of the task's ``variant_keys`` (e.g. {"preset": "bounded"}; each value is its own
                    setting, its own leaderboard columns); row_keys: {key: value} of ``Task.row_keys``,
                    the keys that make separate leaderboard rows (e.g. {"explainer": "occlusion"});
                    both missing in older records (= {}); family: the leaderboard board of the task
                    (``Task.family``; missing in older records: the task's name), question: the
                    board's caption, row_facts: row facts the board shows (e.g. ["parameters"])
    encoder         {name, version, plugin, plugin_version, capabilities, parameters, config_source}
                    config_source: where config.encoder came from: "command" (built from the
                    command's settings) or "checkpoint <folder>" (the loaded checkpoint's own config)
    dataset         {name, categories, num_categories, splits: {split: size}, checksum, synthetic, source, ...}
    config          {encoder: {...}, task: {...}, data: {...}}: the full resolved configuration; encoder
                    is the config the evaluated module was built with
    seed            int;  world_size: int
    seeds           [int]: every seed of a multi-seed command (``--seed 0,1,2``), whose runs of one row
                    and task a leaderboard aggregates; [] for a one-seed command
    metrics         {name: {value, ci_low?, ci_high?, n?} + the task's declaration of the metric:
                     higher_is_better, description, unit, label, headline, kind ("score" | "speed"),
                     position (order in the task), field (per-sketch field, [numerator, denominator]
                     for ratio_of_means, or null for a run-level value), aggregation ("mean",
                     "proportion", "ratio_of_means" or null), test ("mcnemar", "permutation" or
                     null), same ([fields that must agree per sketch for two runs to be paired]),
                     format (how it is printed: percent, signed, number, speed, flag; missing in
                     older records: inferred), control_of (the metric it is the control of, or ""),
                     validation (the validation ladder's verdict on the metric, or ""; missing in older records)}
    timings         {name: seconds}: at least total_s; the runner adds data_s (opening the dataset: near 0
                    when an earlier run of the same command had opened it) and task_s
    artifacts       {label: path relative to the record's folder}; per_sketch: the per-sketch rows;
                    thumbnails (a path ending .svg): the report's strip of the run (<= 720 x 120 px, with
                    width, height and viewBox); a path ending index.html: the run's gallery page
    extra           task-specific facts (e.g. truncation counts), JSON; curves: {NAME: {x, y, lo, hi:
                    [float] of one length (lo/hi a 95% interval of the mean), x_label, y_label, title;
                    optional caption (a sentence) and reference ({x, y, label}: e.g. a chance line)}},
                    one report plot per NAME and task (e.g. sli_target_probability,
                    deletion_morf, deletion_lerf, pointing_roc, sanity_spearman)
    versions        {sketchxai_bench, python, torch, transformers, numpy, plugins: {name: version}}
    git             {revision, dirty} or null outside a git checkout
    host            {hostname, platform, machine, cpu_count, torch_threads, device}
    notes           [str]: caveats a reader must see (e.g. "synthetic data")

Files are named portably (:func:`portable_paths`, applied when a record is built): a file inside the
results folder by its relative path (``{"path": "runs/<id>/checkpoint"}``), any other by its name and,
for checkpoints, its sha256 (``{"name": "model.safetensors", "sha256": ...}``; a data file by name, its
content being ``dataset.checksum``); never an absolute path of the machine that made the record.

Per-sketch rows (artifact ``per_sketch``, ``<run_id>/per_sketch.jsonl``):
one JSON object a line, one line per scored sketch, written only through
``RunContext.write_per_sketch``::

    index           int: the sketch's index in the split the task scored
    key_id          str or null: the drawing's QuickDraw key where the data has one
    <field>         each per-sketch field a metric of the task declares (booleans, numbers, or
                    null where the sketch has no value), plus any other fields the task keeps
                    (e.g. curves as lists); full float precision

Version-1 records (no declarations, no config_source) are still read: their metrics get the
default declaration (label = name, not headline, kind "speed" for units ending in "/s", no
per-sketch field, no paired test; ``declared: false`` in memory, so that a leaderboard takes a
metric's declaration from the newest record that has one).

Records are written atomically (temporary file, then rename) and validated before writing and when
read back; :func:`load_records` reports unreadable or foreign files instead of failing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError

SCHEMA_VERSION = 2
#: Schema versions :func:`read_record` accepts (older ones are upgraded in memory).
READABLE = (1, 2)
#: The per-sketch artifact's file name inside a run's folder (see the module docstring).
PER_SKETCH = "per_sketch.jsonl"
#: The artifact label of the per-sketch rows in a record's ``artifacts``.
PER_SKETCH_ARTIFACT = "per_sketch"
DECLARATION = ("higher_is_better", "description", "unit", "label", "headline", "kind", "position", "field",
               "aggregation", "test", "same")

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
    version = record.get("schema_version")
    if version not in READABLE or isinstance(version, bool):
        return [f"schema_version is {version!r}, expected one of {', '.join(map(str, READABLE))}"]
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
        elif version >= 2 and any(k not in metric for k in DECLARATION):
            problems.append(f"metric {name!r} lacks {', '.join(k for k in DECLARATION if k not in metric)}")
    return problems


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A valid record in the current schema's shape (version-1 records get default declarations;
    declaration fields added since, missing in older records, get their defaults)."""
    if record["schema_version"] >= 2:
        return _fill_defaults(record)
    for position, (name, metric) in enumerate(sorted(record["metrics"].items())):
        unit = str(metric.get("unit") or "")
        defaults = {"description": "", "unit": unit, "label": name, "headline": False,
                    "kind": "speed" if unit.endswith("/s") else "score", "position": position, "field": None,
                    "aggregation": None, "test": None, "same": [], "declared": False}
        record["metrics"][name] = {**defaults, **metric}
    record["task"].setdefault("order", 100)
    record["task"].setdefault("variant", {})
    record.setdefault("seeds", [])
    record["encoder"].setdefault("config_source", "command")
    return _fill_defaults(record)


def _fill_defaults(record: dict[str, Any]) -> dict[str, Any]:
    """Fields newer than schema 2 that older records lack: a metric's ``format`` (inferred from its
    unit, aggregation and kind) and ``control_of``; the task's ``family`` (its own name: a board of
    its own), ``question`` and ``row_facts``."""
    from benchmark.contracts import infer_format

    task = record["task"]
    task.setdefault("family", task["name"])
    task.setdefault("question", "")
    task.setdefault("row_facts", [])
    task.setdefault("row_keys", {})
    task.setdefault("variant", {})
    for metric in record["metrics"].values():
        if not metric.get("format"):
            metric["format"] = infer_format(str(metric.get("unit") or ""), metric.get("aggregation"),
                                            str(metric.get("kind") or "score"))
        metric.setdefault("control_of", "")
    return record


# -- portable references ---------------------------------------------------------------------
#: Where records keep references to files: (keys, text prefix, hashed). ``encoder.config_source`` is
#: text ``"checkpoint <folder>"``; the others are a path or a reference object. A data file outside the
#: results folder is named, not hashed (it may be many GB; the record's ``dataset.checksum`` already
#: identifies its content); a checkpoint outside it is named and hashed.
REFERENCES = ((("config", "data", "path"), "", False), (("dataset", "source"), "", False),
              (("extra", "checkpoint_used"), "", True), (("encoder", "config_source"), "checkpoint ", True),
              (("encoder", "config_source"), "external checkpoint ", True))


def sha256_of(path: str | Path) -> str | None:
    """The sha256 of a file, or of a folder (of each file's relative path and sha256, sorted);
    ``None`` when it cannot be read. Remembered for this process while no file's size or mtime
    changes, so the many runs of one command that name one checkpoint read it once."""
    import hashlib

    path = Path(path)

    def one(file: Path) -> str:
        digest = hashlib.sha256()
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    try:
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file())
        else:
            return None
        stats = [(f, f.stat()) for f in files]
        key = (str(path.resolve()), tuple((str(f), st.st_size, st.st_mtime_ns) for f, st in stats))
        if key not in _SHA256:
            if path.is_file():
                _SHA256[key] = one(path)
            else:
                lines = [f"{f.relative_to(path).as_posix()}\0{one(f)}\n" for f in files]
                _SHA256[key] = hashlib.sha256("".join(lines).encode()).hexdigest()
        return _SHA256[key]
    except OSError:
        return None


#: :func:`sha256_of`'s digests by path and its files' (name, size, mtime).
_SHA256: dict[tuple, str] = {}


def reference(path: str | Path, results: str | Path, digest: bool = True) -> dict[str, Any]:
    """A portable reference to ``path`` from a record of the results folder ``results``: a file or
    folder inside it by its relative path (``{"path": "runs/<id>/checkpoint"}``), any other by its
    name and sha256 (``{"name": "qd30.h5", "sha256": ...}``; ``None`` where it cannot be read, or
    ``digest`` is false), never a path of this machine."""
    results_dir = Path(results).resolve()
    target = Path(path)
    full = (target if target.is_absolute() else Path.cwd() / target).resolve()
    if full.is_relative_to(results_dir):
        return {"path": full.relative_to(results_dir).as_posix()}
    # a copied results folder: the run folder named in the path exists here
    parts = Path(path).parts
    if "runs" in parts:
        at = len(parts) - 1 - parts[::-1].index("runs")
        if at + 1 < len(parts) and (results_dir / "runs" / parts[at + 1]).is_dir():
            return {"path": Path(*parts[at:]).as_posix()}
    return {"name": target.name, "sha256": sha256_of(full) if digest else None}


def reference_text(ref: dict[str, Any]) -> str:
    """A reference for people: its relative path, or ``name (sha256 0123456789ab)``."""
    if "path" in ref:
        return str(ref["path"])
    digest = ref.get("sha256")
    return f"{ref.get('name')} (sha256 {digest[:12]})" if digest else f"{ref.get('name')} (not hashed)"


def _looks_like_machine_path(text: str) -> bool:
    return (text.startswith("/") and len(text) > 1 and "\n" not in text) or bool(
        len(text) > 2 and text[1] == ":" and text[2] in "\\/" and text[0].isalpha())


#: An absolute POSIX path of two or more parts inside a sentence.
_EMBEDDED_PATH = re.compile(r"(?<![\w.)])/[\w.\-]+(?:/[\w.\-]+)+")


def portable_paths(record: dict[str, Any], results: str | Path, digest: bool = True) -> list[str]:
    """Replace, in place, the machine paths of a stored record by portable references
    (:func:`reference`): the known reference fields (:data:`REFERENCES`; relative paths there are
    the run's working directory's), then any other absolute path anywhere in the record (by name
    only). Returns the dotted keys that changed."""
    changed = []
    for keys, prefix, hashed in REFERENCES:
        holder = record
        for key in keys[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if not isinstance(holder, dict):
            continue
        value = holder.get(keys[-1])
        if not isinstance(value, str) or not value.startswith(prefix) or not value[len(prefix):]:
            continue
        text = value[len(prefix):]
        if prefix and not (_looks_like_machine_path(text) or Path(text).exists()):
            continue  # a hub id ("org/name") or a name, not a path
        if not prefix and not (_looks_like_machine_path(text) or "/" in text or Path(text).suffix):
            continue  # a description ("demo generator ..."), not a path
        ref = reference(text, results, digest and hashed)
        holder[keys[-1]] = prefix + reference_text(ref) if prefix else ref
        changed.append(".".join(keys))

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and _looks_like_machine_path(value):
            changed.append(where)
            return {"name": Path(value).name, "sha256": None}
        return value

    for key in list(record):
        if not key.startswith("_"):
            record[key] = walk(record[key], key)
    notes = record.get("notes")
    if isinstance(notes, list):  # a path inside a sentence ("... come from checkpoint /home/...")
        for i, note in enumerate(notes):
            if isinstance(note, str):
                text = _EMBEDDED_PATH.sub(lambda m: reference_text(reference(m.group(0), results, digest)), note)
                if text != note:
                    notes[i] = text
                    changed.append(f"notes[{i}]")
    return sorted(set(changed))


def write_record(folder: str | Path, record: dict[str, Any]) -> Path:
    """Validate ``record`` and write it to ``folder/<run_id>.json`` atomically; returns the path."""
    problems = validate(record)
    if not problems and record["schema_version"] != SCHEMA_VERSION:
        problems = [f"schema_version {record['schema_version']} is not the current {SCHEMA_VERSION}"]
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
    """Read and validate one record, or raise :class:`RecordError` naming the file (one of a schema newer
    than :data:`SCHEMA_VERSION` says to upgrade)."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON file ({exc})") from exc
    version = record.get("schema_version") if isinstance(record, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise RecordError(f"{path}: written by a newer sketchxai-bench (schema {version}); upgrade to read it")
    problems = validate(record)
    if problems:
        raise RecordError(f"{path}: not a run record ({'; '.join(problems[:4])})")
    return upgrade(record)


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
