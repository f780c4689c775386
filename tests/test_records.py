"""Run-record schema, validation, round trip and atomic writes."""

from __future__ import annotations

import copy
import json
import os

import pytest

from benchmark import Metric, records
from benchmark.errors import BenchError

TOP1 = Metric(True, "top-1", "fraction", label="top-1", headline=True, field="correct", aggregation="proportion")


def make_record(run_id="20260101T000000Z-recognition-x-demo-abcdef", **changes):
    record = {
        "schema_version": records.SCHEMA_VERSION, "run_id": run_id,
        "created": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00",
        "task": {"name": "recognition", "version": "1", "plugin": "tasks", "plugin_version": "0.1.0",
                 "variant": {}, "row_keys": {}, "family": "recognition", "question": "", "row_facts": []},
        "encoder": {"name": "x", "version": "1", "plugin": "p", "plugin_version": "", "capabilities": ["sli"],
                    "parameters": 10},
        "dataset": {"name": "demo", "categories": ["a", "b"], "num_categories": 2, "splits": {"test": 3},
                    "checksum": "abc", "synthetic": True},
        "config": {"encoder": {}, "task": {"epochs": 1}, "data": {}},
        "seed": 0, "world_size": 1,
        "metrics": {"top1": {"value": 0.5, "ci_low": 0.1, "ci_high": 0.9, "n": 3, **TOP1.declaration(0)}},
        "timings": {"total_s": 1.0}, "artifacts": {}, "extra": {},
        "versions": {"sketchxai_bench": "0.1.0", "python": "3.11", "torch": "2.13.0"},
        "git": None, "host": {}, "notes": [],
    }
    record.update(changes)
    return record


def test_valid_record_round_trips(tmp_path):
    record = make_record()
    assert records.validate(record) == []
    path = records.write_record(tmp_path / "runs", record)
    assert path.name == f"{record['run_id']}.json"
    back = records.read_record(path)
    assert back == record
    loaded, problems = records.load_records(tmp_path)
    assert problems == [] and [r["run_id"] for r in loaded] == [record["run_id"]]


@pytest.mark.parametrize("mutate, problem", [
    (lambda r: r.pop("metrics"), "missing 'metrics'"),
    (lambda r: r.update(schema_version=99), "schema_version is 99"),
    (lambda r: r["encoder"].pop("parameters"), "missing encoder.parameters"),
    (lambda r: r["metrics"]["top1"].pop("higher_is_better"), "needs 'value' and 'higher_is_better'"),
    (lambda r: r.update(seed="zero"), "'seed' has type str"),
    (lambda r: r.update(seed=True), "'seed' has type bool"),
    (lambda r: r["metrics"]["top1"].pop("aggregation"), "metric 'top1' lacks aggregation"),
    (lambda r: r.update(schema_version=1), "schema_version 1 is not the current 2"),
])
def test_invalid_records_are_named(mutate, problem, tmp_path):
    record = make_record()
    mutate(record)
    assert any(problem in p for p in records.validate(record)) or record["schema_version"] == 1
    with pytest.raises(records.RecordError, match=f"invalid run record.*{problem}"):
        records.write_record(tmp_path, record)
    assert list(tmp_path.iterdir()) == []


def test_foreign_and_corrupt_files_are_reported_not_fatal(tmp_path):
    runs = tmp_path / "runs"
    records.write_record(runs, make_record())
    (runs / "corrupt.json").write_text('{"schema_version": 1, "run_id"')
    (runs / "foreign.json").write_text(json.dumps({"hello": "world"}))
    loaded, problems = records.load_records(tmp_path)
    assert len(loaded) == 1
    assert any("corrupt.json: not a readable JSON file" in p for p in problems)
    assert any("foreign.json: not a run record" in p for p in problems)


def test_records_are_read_from_runs_or_from_a_flat_folder(tmp_path):
    flat, nested = tmp_path / "flat", tmp_path / "nested"
    records.write_record(flat, make_record())
    records.write_record(nested / "runs", make_record())
    (nested / "leaderboard.json").write_text(json.dumps({"rows": []}))  # written beside runs/: not a record
    for folder in (flat, nested):
        loaded, problems = records.load_records(folder)
        assert len(loaded) == 1 and problems == []


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    record = make_record()
    path = records.write_record(tmp_path, record)
    before = path.read_text()
    changed = copy.deepcopy(record)
    changed["seed"] = 1

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(BenchError, match=r"cannot write .*: disk full \(simulated\); free some space"):
        records.write_record(tmp_path, changed)  # a one-line error (issue 14), not an OSError traceback
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_nan_metrics_are_refused_rather_than_written_as_invalid_json(tmp_path):
    record = make_record()
    record["metrics"]["top1"]["value"] = float("nan")
    with pytest.raises(ValueError):
        records.write_record(tmp_path, record)
    assert not any(p.suffix == ".json" for p in tmp_path.iterdir())


def test_version_1_records_are_read_with_default_declarations(tmp_path):
    """Records written before metrics declared themselves still load: every metric gets the
    default declaration (not headline, no per-sketch field, no test; speeds by their unit)."""
    record = make_record()
    record["schema_version"] = 1
    record["metrics"] = {"top1": {"value": 0.5, "higher_is_better": True, "unit": "fraction"},
                         "eval_sketches_per_s": {"value": 9.0, "higher_is_better": True, "unit": "sketches/s"}}
    path = tmp_path / "runs" / "old.json"
    path.parent.mkdir()
    path.write_text(json.dumps(record))
    back = records.read_record(path)
    assert back["metrics"]["top1"]["label"] == "top1" and back["metrics"]["top1"]["headline"] is False
    assert back["metrics"]["top1"]["field"] is None and back["metrics"]["top1"]["test"] is None
    assert back["metrics"]["eval_sketches_per_s"]["kind"] == "speed" and back["metrics"]["top1"]["kind"] == "score"
    assert back["encoder"]["config_source"] == "command"
