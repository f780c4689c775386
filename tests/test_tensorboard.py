"""The TensorBoard logger plugin (:mod:`benchmark.tensorboard`): ``bench run --tensorboard DIR`` writes
event files through the lifecycle hooks that TensorBoard's own reader reads back; off by default."""

from __future__ import annotations

import json

import pytest

from conftest import TINY_PLUGIN, run_bench

FAST = ["--plugin", str(TINY_PLUGIN), "run", "--task", "recognition", "--data", "tiny", "--encoder", "seq_lstm", "--set", "epochs=3",
        "--threads", "1"]


def test_event_files_hold_the_logged_epochs_and_final_metrics(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                            reason="TensorBoard not installed (pip install -e '.[tensorboard]')")
    done = run_bench(*FAST, "--results", str(tmp_path / "results"), "--tensorboard", str(tmp_path / "tb"))
    assert done.returncode == 0, done.stderr
    (record_path,) = (tmp_path / "results" / "runs").glob("*.json")
    record = json.loads(record_path.read_text())
    (folder,) = (tmp_path / "tb").iterdir()
    assert folder.name == record["run_id"] and list(folder.glob("events.out.tfevents.*"))
    events = event_accumulator.EventAccumulator(str(folder))
    events.Reload()
    tags = events.Tags()["scalars"]
    losses = events.Scalars("recognition/train_loss")
    assert [e.step for e in losses] == [1, 2, 3] and all(e.value > 0 for e in losses)  # epochs count from 1, as printed
    assert "recognition/valid_top1" in tags
    final = events.Scalars("recognition/final/top1")
    assert final[0].value == pytest.approx(record["metrics"]["top1"]["value"])
    assert "config/text_summary" in events.Tags()["tensors"]


def test_off_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_TENSORBOARD", raising=False)
    done = run_bench(*FAST, "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("events.out.tfevents.*"))
