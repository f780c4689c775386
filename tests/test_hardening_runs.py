"""Issue 14, run side (the real CLI on the tiny dataset): no code from state files, no silent
non-finite runs, one-line errors for bad checkpoints and misbehaving encoders, failed runs
marked failed (no record, checkpoint or resumable state), broken plugins named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, TINY_PLUGIN, run_bench

PLUGINS = ROOT / "tests" / "plugins"
EXAMPLE_DIR = ROOT / "plugins" / "sketchxai-bench-stroke-bag"
BAD = str(PLUGINS / "bad_encoders.py")
FAST = ["--task", "recognition", "--data", "tiny", "--encoder", "stroke_bag", "--set", "epochs=2", "--threads", "1"]


def bench(*args, env=None):
    env = {"PYTHONPATH": f"{ROOT}:{EXAMPLE_DIR}", **(env or {})}
    return run_bench("--plugin", str(TINY_PLUGIN), "--plugin", "bench_stroke_bag", "--plugin", BAD, *args, env=env,
                     timeout=300)


def error_line(done) -> str:
    """The CLI's one error line (asserting there is exactly one and no traceback)."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("bench: error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def run_dirs(results: Path) -> list[Path]:
    return sorted(p for p in (results / "runs").iterdir() if p.is_dir()) if (results / "runs").is_dir() else []


def assert_failed_cleanly(results: Path, fragment: str) -> None:
    """No record; every run folder holds only failed.json, with the error."""
    assert not list((results / "runs").glob("*.json"))
    dirs = run_dirs(results)
    assert dirs
    for d in dirs:
        assert [p.name for p in d.iterdir()] == ["failed.json"]
        failed = json.loads((d / "failed.json").read_text())
        assert failed["status"] == "failed" and fragment in failed["error"]


class _WritesMarker:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    results = tmp_path_factory.mktemp("trained")
    done = bench("run", *FAST, "--results", str(results))
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    return results / "runs" / record["artifacts"]["checkpoint"]


@pytest.mark.slow
def test_crafted_state_file_runs_no_code_on_resume(tmp_path):
    import torch

    killed = run_bench("--plugin", str(TINY_PLUGIN), "--plugin", "bench_stroke_bag",
                       "--plugin", str(PLUGINS / "lifecycle_logger.py"), "run", *FAST, "--results", str(tmp_path),
                       env={"PYTHONPATH": f"{ROOT}:{EXAMPLE_DIR}", "BENCH_TEST_DIE_AT_EPOCH": "2"})
    assert killed.returncode == 17
    (run_dir,) = run_dirs(tmp_path)
    state = run_dir / "state" / "train.pt"
    assert state.is_file() and (run_dir / "in_progress.json").is_file()
    marker = tmp_path / "marker"
    torch.save({"model": _WritesMarker(str(marker))}, state)
    # the file is really dangerous: the old loader (weights_only=False) runs it
    probe = tmp_path / "probe.pt"
    probe_marker = tmp_path / "probe_marker"
    torch.save(_WritesMarker(str(probe_marker)), probe)
    torch.load(probe, weights_only=False)
    assert probe_marker.exists()
    before = _snapshot(run_dir)
    assert {"checkpoint", "state", "in_progress.json"} <= {p.split("/")[0] for p in before}
    resumed = bench("run", *FAST, "--results", str(tmp_path), "--resume")
    line = error_line(resumed)
    assert "train.pt: refused to resume from this state file" in line and "run without --resume" in line
    assert not marker.exists()
    # nothing a user had is removed: the folder is as it was, and the message says so
    assert _snapshot(run_dir) == before and not (run_dir / "failed.json").exists()
    assert f"{run_dir} is kept as it was" in line and f"delete {run_dir / 'state'} to restart this one" in line
    assert not list((tmp_path / "runs").glob("*.json"))
    state.write_bytes(state.read_bytes()[:100])  # truncated: refused the same way, and still resumable once fixed
    line = error_line(bench("run", *FAST, "--results", str(tmp_path), "--resume"))
    assert "train.pt: refused to resume" in line and (run_dir / "in_progress.json").is_file()
    shutil.rmtree(run_dir / "state")
    done = bench("run", *FAST, "--results", str(tmp_path), "--resume")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / f"{run_dir.name}.json").is_file() and not (run_dir / "in_progress.json").exists()


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_non_finite_loss_stops_the_run_without_record_or_checkpoint(tmp_path):
    done = bench("run", "--task", "recognition", "--data", "tiny", "--encoder", "exploding", "--set", "epochs=2", "--threads", "1",
                 "--results", str(tmp_path))
    line = error_line(done)
    assert "training loss became nan at epoch 1, step 1" in line and "lower recognition.lr" in line
    assert_failed_cleanly(tmp_path, "training loss became nan")


@pytest.mark.parametrize("nproc", [1, 2])
def test_a_diverging_learning_rate_stops_the_run(nproc, tmp_path):
    done = bench("run", *FAST, "--set", "task.lr=1e6", "--nproc", str(nproc), "--results", str(tmp_path))
    line = error_line(done)
    if nproc > 1:
        assert "worker rank" in line
    assert "training loss diverged" in line and "at epoch 2" in line
    assert_failed_cleanly(tmp_path, "training loss diverged")
    # a later --resume with the same settings does not pick the failed run up, and a leaderboard reads nothing
    board = bench("leaderboard", "--results", str(tmp_path), "--format", "json")
    assert "Traceback" not in board.stderr


def test_wrong_logits_shape_fails_on_the_first_batch(tmp_path):
    done = bench("run", "--task", "recognition", "--data", "tiny", "--encoder", "wrong_logits", "--set", "epochs=3", "--threads", "1",
                 "--results", str(tmp_path))
    line = error_line(done)
    assert ("encoder 'wrong_logits' (plugin 'bad_encoders') returned logits of shape [" in line
            and ", 5] for a batch of" in line and "4 classes" in line)
    assert "epoch 1/3:" not in done.stderr  # not a whole epoch first
    assert_failed_cleanly(tmp_path, "returned logits of shape")


def test_sli_encoder_whose_logits_ignore_locations_fails_before_training(tmp_path):
    done = bench("run", "--task", "sli_recovery", "--data", "tiny", "--encoder", "sli_ignores_locations",
                 "--set", "recognition.epochs=1", "--set", "steps=2", "--threads", "1", "--results", str(tmp_path))
    line = error_line(done)
    assert ("encoder 'sli_ignores_locations' (plugin 'bad_encoders') declares capability 'sli' but its logits "
            "do not depend on batch.locations") in line
    assert "running task recognition first" not in done.stderr
    assert not list((tmp_path / "runs").glob("*.json"))


def test_truncated_checkpoint_weights_are_a_one_line_error_naming_the_file(checkpoint, tmp_path):
    broken = tmp_path / "checkpoint"
    shutil.copytree(checkpoint, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    done = bench("run", *FAST, "--checkpoint", str(broken), "--results", str(tmp_path / "r"))
    line = error_line(done)
    assert f"{weights}: cannot read these weights" in line and "pass another --checkpoint" in line
    assert not list((tmp_path / "r" / "runs").glob("*.json"))


@pytest.mark.slow
def test_interrupted_run_stays_resumable_and_failed_runs_are_not_resumed(tmp_path):
    logger = str(PLUGINS / "lifecycle_logger.py")
    env = {"PYTHONPATH": f"{ROOT}:{EXAMPLE_DIR}"}
    base = ("--plugin", str(TINY_PLUGIN), "--plugin", "bench_stroke_bag", "--plugin", logger)
    failed = run_bench(*base, "run", *FAST, "--set", "task.lr=1e6", "--results", str(tmp_path), env=env)
    assert failed.returncode == 2
    killed = run_bench(*base, "run", *FAST, "--results", str(tmp_path), env={**env, "BENCH_TEST_DIE_AT_EPOCH": "2"})
    assert killed.returncode == 17
    resumed = run_bench(*base, "run", *FAST, "--results", str(tmp_path), "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1 of 2" in resumed.stderr
    again = run_bench(*base, "run", *FAST, "--set", "task.lr=1e6", "--results", str(tmp_path), "--resume", env=env)
    assert again.returncode == 2 and "resuming" not in again.stderr  # the failed run is not picked up
    records = list((tmp_path / "runs").glob("*.json"))
    assert len(records) == 1
    board = run_bench(*base, "leaderboard", "--results", str(tmp_path), "--format", "csv", env=env)
    assert board.returncode == 0 and "Traceback" not in board.stderr and "failed" not in board.stderr


def test_unknown_name_names_the_broken_plugin_and_run_warns(checkpoint, tmp_path):
    broken = str(PLUGINS / "broken_import.py")
    done = bench("--plugin", broken, "run", "--task", "recognition", "--data", "tiny", "--encoder", "my_encoder", "--results", str(tmp_path))
    line = error_line(done)
    assert "unknown encoder 'my_encoder'" in line
    assert "plugin 'broken_import'" in line and "is broken: failed to import: ModuleNotFoundError" in line
    ok = bench("--plugin", broken, "run", *FAST, "--checkpoint", str(checkpoint), "--results", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert "bench: warning: plugin 'broken_import'" in ok.stderr and "is broken and was not loaded" in ok.stderr


SMALL_VIT = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "mlp_size": 32}


def _small_vit_checkpoint(folder: Path, **info_changes) -> Path:
    """A real stroke_vit_tiny checkpoint for the tiny data (4 classes), its config.json then edited."""
    from benchmark.checkpoints import CONFIG, save_checkpoint
    from encoders.stroke_vit import StrokeViTTiny

    config = StrokeViTTiny.full_config(SMALL_VIT)
    save_checkpoint(folder, "stroke_vit_tiny", "1", StrokeViTTiny.build(4, config), config,
                    ["above", "below", "left", "right"])
    info = json.loads((folder / CONFIG).read_text())
    for key, value in info_changes.items():
        if key in config:
            info["config"][key] = value
        else:
            info[key] = value
    (folder / CONFIG).write_text(json.dumps(info))
    return folder


def test_truncated_safetensors_file_as_checkpoint_is_a_one_line_error(checkpoint, tmp_path):
    weights = tmp_path / "model.safetensors"
    data = (checkpoint / "model.safetensors").read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    done = bench("run", "--data", "tiny", "--encoder", "stroke_vit_tiny", "--checkpoint", str(weights),
                 "--threads", "1", "--results", str(tmp_path / "r"))
    line = error_line(done)
    assert f"{weights}: cannot read these weights (SafetensorError" in line and "pass another --checkpoint" in line


@pytest.mark.parametrize("changes, message", [
    ({"hidden_size": 10**7}, "encoder.hidden_size=10000000: expected a whole number of at least 1 and at most 16384"),
    ({"num_layers": 10**6}, "encoder.num_layers=1000000: expected a whole number of at least 1 and at most 1024"),
    ({"mlp_size": 10**8}, "encoder.mlp_size=100000000: expected a whole number of at least 1 and at most 65536"),
    ({"num_classes": 10**9}, "num_classes=1000000000 but it lists 4 categories"),
    ({"num_classes": 10**12, "categories": []},  # 16 TB of weights: more than any machine's memory
     "has 1.7e+13 parameters (1000000000000 classes): 126,659.9 GB for its float32 weights alone"),
    ({"hidden_size": 16384, "num_layers": 1024, "mlp_size": 65536, "num_heads": 16}, "more than this machine's"),
    ({"num_heads": "many"}, 'encoder.num_heads="many": expected a whole number'),
])
def test_absurd_checkpoint_config_is_refused_before_any_tensor(changes, message, tmp_path):
    folder = _small_vit_checkpoint(tmp_path / "ckpt", **changes)
    done = bench("run", "--data", "tiny", "--encoder", "stroke_vit_tiny", "--checkpoint", str(folder),
                 "--threads", "1", "--results", str(tmp_path / "r"))
    line = error_line(done)
    assert f"{folder / 'config.json'}: " in line and message in line and "pass another --checkpoint" in line
    assert not list((tmp_path / "r" / "runs").glob("*.json"))


def test_absurd_sizes_on_the_command_are_refused_when_planned(tmp_path):
    big = ["--set", "encoder.hidden_size=16384", "--set", "encoder.num_layers=1024", "--set",
           "encoder.mlp_size=65536", "--set", "encoder.num_heads=16"]
    done = bench("run", "--data", "tiny", "--encoder", "stroke_vit_tiny", *big, "--results", str(tmp_path))
    assert "encoder 'stroke_vit_tiny' with these sizes has 3.3e+12 parameters" in error_line(done)
    many = bench("run", "--data", "tiny", "--encoder", "stroke_vit_tiny", "--set", "encoder.num_layers=1000000",
                 "--results", str(tmp_path))
    assert "encoder.num_layers=1000000: expected a whole number of at least 1 and at most 1024" in error_line(many)
    assert not (tmp_path / "runs").exists()


def test_truncation_is_said_on_the_terminal_and_in_the_notes(tmp_path):
    done = bench("run", *FAST, "--set", "data.max_strokes=1", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    dropped = record["extra"]["truncated"]["strokes"]
    assert dropped > 0
    said = f"collate truncated the input: {dropped} stroke(s) and 0 point(s) dropped beyond data.max_strokes=1"
    assert len([ln for ln in done.stderr.splitlines() if said in ln]) == 1
    assert any(n.startswith(said) for n in record["notes"])


def test_a_plugin_clashing_with_a_built_in_is_shown_by_list_plugins_refused_elsewhere_and_can_be_disabled(tmp_path):
    twin = str(PLUGINS / "builtin_twin.py")
    listed = run_bench("--plugin", twin, "list", "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == "builtin_twin"]
    assert row["status"] == "conflict" and "encoder name 'seq_lstm' is registered by two plugins" in row["error"]
    broken = run_bench("--plugin", twin, "--plugin", str(PLUGINS / "broken_import.py"), "list", "plugins")
    assert broken.returncode == 0 and "conflict" in broken.stdout and "broken" in broken.stdout
    line = error_line(run_bench("--plugin", twin, "list", "encoders"))
    assert "'seq_lstm' is registered by two plugins" in line and "builtin_twin" in line
    assert "BENCH_DISABLE_PLUGINS=builtin_twin" in line
    done = run_bench("--plugin", twin, "list", "encoders", "--json", env={"BENCH_DISABLE_PLUGINS": "builtin_twin"})
    assert done.returncode == 0, done.stderr
    (lstm,) = [r for r in json.loads(done.stdout) if r["name"] == "seq_lstm"]
    assert lstm["plugin"] != "builtin_twin"
    listed = run_bench("--plugin", twin, "list", "plugins", "--json", env={"BENCH_DISABLE_PLUGINS": "builtin_twin"})
    assert [r["status"] for r in json.loads(listed.stdout) if r["name"] == "builtin_twin"] == ["disabled"]


def test_a_record_of_a_newer_schema_says_to_upgrade(tmp_path):
    from benchmark.records import SCHEMA_VERSION, load_records

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "future.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "run_id": "x"}))
    records, problems = load_records(tmp_path)
    assert records == [] and problems == [
        f"{tmp_path / 'runs' / 'future.json'}: written by a newer sketchxai-bench (schema {SCHEMA_VERSION + 1}); "
        "upgrade to read it"]
