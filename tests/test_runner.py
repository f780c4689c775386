"""End-to-end runs through the CLI: lifecycle hooks, exact multi-process evaluation, resume, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, TINY_PLUGIN, run_bench

PLUGINS = ROOT / "tests" / "plugins"
EXAMPLE_DIR = ROOT / "plugins" / "sketchxai-bench-stroke-bag"
LOGGER = str(PLUGINS / "lifecycle_logger.py")
FAST = ["--task", "recognition", "--data", "tiny", "--encoder", "stroke_bag", "--set", "epochs=3"]


def bench(*args, env=None):
    """The CLI with the tiny dataset, the example encoder (by module name) and the hook logger; one
    torch thread a process (the default follows the idle cores, and float sums differ between thread
    counts: a resumed run is compared bit for bit with an uninterrupted one)."""
    env = {"PYTHONPATH": f"{ROOT}:{EXAMPLE_DIR}", "BENCH_THREADS": "1", **(env or {})}
    return run_bench("--plugin", str(TINY_PLUGIN), "--plugin", "bench_stroke_bag", "--plugin", LOGGER, *args, env=env)


def records_in(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


def per_sketch(record: dict, results: Path) -> list[dict]:
    text = (results / "runs" / record["artifacts"]["per_sketch"]).read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One recognition run of the example encoder on the tiny dataset, with its hook log."""
    results = tmp_path_factory.mktemp("results")
    log = results / "hooks.jsonl"
    done = bench("run", *FAST, "--results", str(results), "--seed", "3", env={"BENCH_TEST_HOOK_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    (record,) = records_in(results)
    return results, record, [json.loads(line) for line in log.read_text().splitlines()]


def test_record_describes_the_run(trained):
    results, record, _ = trained
    assert record["task"]["name"] == "recognition" and record["encoder"]["name"] == "stroke_bag"
    assert record["seed"] == 3 and record["world_size"] == 1
    assert record["config"]["task"]["epochs"] == 3 and record["config"]["encoder"]["hidden"] == 128
    assert record["dataset"]["splits"] == {"train": 96, "valid": 24, "test": 28}
    assert record["dataset"]["synthetic"] is True and any("synthetic" in n for n in record["notes"])
    assert record["encoder"]["parameters"] > 0
    assert 0 <= record["metrics"]["top1"]["ci_low"] <= record["metrics"]["top1"]["value"] <= 1
    assert record["metrics"]["top1"]["higher_is_better"] is True
    assert record["metrics"]["test_loss"]["higher_is_better"] is False
    assert (results / "runs" / record["artifacts"]["checkpoint"] / "model.safetensors").is_file()
    assert len(per_sketch(record, results)) == 28
    assert not (results / "runs" / record["run_id"] / "state").exists()
    assert record["versions"]["torch"] and record["host"]["cpu_count"]


def test_lifecycle_hooks_are_called_in_order(trained):
    _, record, events = trained
    kinds = [e["event"] for e in events]
    assert kinds == ["started", "metrics", "metrics", "metrics", "finished"]
    assert [e["step"] for e in events if e["event"] == "metrics"] == [1, 2, 3]  # steps count from 1, like epochs
    assert {e["run_id"] for e in events} == {record["run_id"]}
    assert events[-1]["record_run_id"] == record["run_id"]


def test_multi_process_evaluation_is_exact(trained, tmp_path):
    results, record, _ = trained
    checkpoint = str(results / "runs" / record["artifacts"]["checkpoint"])
    outputs = {}
    for nproc in (1, 2, 3):
        out = tmp_path / f"n{nproc}"
        done = bench("run", *FAST, "--checkpoint", checkpoint, "--nproc", str(nproc), "--results", str(out))
        assert done.returncode == 0, done.stderr
        (rec,) = records_in(out)
        assert rec["world_size"] == nproc
        outputs[nproc] = (per_sketch(rec, out), {k: rec["metrics"][k] for k in ("top1", "top5", "test_loss")})
    assert outputs[1][0] == outputs[2][0] == outputs[3][0]  # 28 test sketches: not divisible by 3
    assert outputs[1][1] == outputs[2][1] == outputs[3][1]
    assert outputs[1][1]["top1"] == record["metrics"]["top1"]


def test_interrupted_training_resumes_to_the_same_metrics(trained, tmp_path):
    _, uninterrupted, _ = trained
    killed = bench("run", *FAST, "--results", str(tmp_path), "--seed", "3", env={"BENCH_TEST_DIE_AT_EPOCH": "2"})
    assert killed.returncode == 17
    assert records_in(tmp_path) == []  # nothing half-written
    resumed = bench("run", *FAST, "--results", str(tmp_path), "--seed", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1 of 3" in resumed.stderr
    (record,) = records_in(tmp_path)
    for name in ("top1", "top5", "test_loss", "valid_top1"):
        assert record["metrics"][name] == uninterrupted["metrics"][name], name


@pytest.mark.parametrize("mode, message", [("raise", "worker rank 1 failed: RuntimeError: deliberate failure"),
                                           ("kill", "worker rank 1 died")])
def test_a_failing_worker_stops_the_others(mode, message, tmp_path):
    done = run_bench("--plugin", str(TINY_PLUGIN), "--plugin", str(PLUGINS / "failing_task.py"), "run",
                     "--task", "fail_on_rank", "--data", "tiny", "--encoder", "stroke_vit_tiny", "--nproc", "2",
                     "--results", str(tmp_path), env={"BENCH_TEST_FAIL_MODE": mode}, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr
    assert not list((tmp_path / "runs").glob("*.json"))


def test_task_requiring_sli_refuses_an_encoder_without_it(tmp_path):
    from benchmark import run as runner

    with pytest.raises(Exception, match="needs encoder capabilities \\['sli'\\]"):
        runner.plan(["sli_recovery"], ["stroke_vit_tiny_no_location"], "demo", 0, str(tmp_path), [])


def test_unknown_setting_suggests_the_close_one(tmp_path):
    done = bench("run", *FAST, "--set", "epocs=2", "--results", str(tmp_path))
    assert done.returncode == 2
    assert "unknown setting 'epocs'; did you mean: epochs" in done.stderr


def test_two_process_training_then_sli_without_a_checkpoint(tmp_path):
    """sli_recovery under --nproc 2 trains its classifier first (planned once, on rank 0) and
    reuses it; both records are written by rank 0 with world size 2."""
    done = bench("run", "--task", "sli_recovery", "--data", "tiny", "--encoder", "stroke_bag", "--nproc", "2",
                 "--set", "recognition.epochs=2", "--set", "steps=5", "--set", "pictures=1", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "running task recognition first" in done.stderr
    recognition, sli = sorted(records_in(tmp_path), key=lambda r: r["task"]["name"] != "recognition")
    assert recognition["task"]["name"] == "recognition" and sli["task"]["name"] == "sli_recovery"
    assert recognition["config"]["task"]["epochs"] == 2  # the setting that names it reached the classifier
    assert recognition["world_size"] == sli["world_size"] == 2
    # named inside the results folder by its relative path, never this machine's
    assert sli["extra"]["checkpoint_used"]["path"].startswith(f"runs/{recognition['run_id']}/")


@pytest.mark.parametrize("task, setting, message", [
    ("recognition", "task.epochs=true", "recognition.epochs=true: expected a whole number of at least 1"),
    ("recognition", "task.warmup_fraction=1", "recognition.warmup_fraction=1: expected a number of at least 0 and below 1"),
    # the classifier an SLI run trains first: its settings are named, and checked at plan time
    ("sli_recovery", "recognition.epochs=0", "recognition.epochs=0: expected a whole number of at least 1"),
    ("recognition", "task.valid_split=\"test\"", "must not be selected on the split it is tested on"),
    ("recognition", "task.schedule=cosin", 'recognition.schedule="cosin": expected one of cosine, constant; did you mean: cosine?'),
    ("sli_recovery", "task.steps=2.5", "sli_recovery.steps=2.5: expected a whole number of at least 0"),
    ("sli_recovery", "sli_recovery.lr=null", "sli_recovery.lr=null: expected a number above 0"),
    ("sli_recovery", "task.init=randm", 'sli_recovery.init="randm": expected one of randn, zero, shuffle, original; did you mean: randn?'),
    ("sli_recovery", "task.init_scale=-0.1", "sli_recovery.init_scale=-0.1: expected a number of at least 0"),
    ("sli_recovery", "task.max_sketches=0", "sli_recovery.max_sketches=0: expected a whole number of at least 1, or null (all)"),
    ("sli_recovery", "epochs=3", "unknown setting 'epochs'; did you mean: "),  # not a setting of the command's tasks
    ("recognition", "max_strokes=64", "setting 'max_strokes' is a setting of the encoder and the data; write "
                                      "encoder.max_strokes or data.max_strokes"),
    ("recognition", "recogniton.epochs=3", "unknown settings section 'recogniton'; did you mean: recognition?"),
    ("recognition", "encoder.num_layers=\"abc\"", 'encoder.num_layers="abc": expected a whole number'),
    ("recognition", "encoder.dropout=5", "encoder.dropout=5: expected a number of at least 0 and below 1"),
    ("recognition", "encoder.use_order=1", "encoder.use_order=1: expected true or false"),
    ("recognition", "encoder.num_heads=5", "hidden_size=192 must be even and divisible by num_heads=5"),  # build, at plan time
    ("sli_transfer", "task.early_stop_probability=1.5", "expected a number above 0 and at most 1, or null (run every step)"),
    ("sli_transfer", "task.optimizer=sgdd", "expected one of sgd, adam; did you mean: sgd?"),
])
def test_task_settings_are_checked_when_runs_are_planned(task, setting, message, tmp_path):
    """Before any data is opened or a classifier is trained for an SLI task."""
    from benchmark.errors import BenchError
    from benchmark.run import plan

    with pytest.raises(BenchError) as caught:
        plan([task], ["stroke_vit_tiny"], "demo", 0, str(tmp_path), [setting])
    assert message in str(caught.value)


def test_a_failing_task_checker_is_a_one_line_error_naming_its_plugin(tmp_path, monkeypatch):
    from benchmark.errors import BenchError
    from benchmark.run import plan
    from tasks.recognition import Recognition

    def broken(cls, config):
        raise KeyError("epochs")

    monkeypatch.setattr(Recognition, "check_config", classmethod(broken))
    with pytest.raises(BenchError, match="task 'recognition' .plugin 'tasks'. could not check its settings: KeyError"):
        plan(["recognition"], ["stroke_vit_tiny"], "demo", 0, str(tmp_path), [])


def test_whole_numbers_given_as_floats_become_ints(tmp_path):
    from benchmark.run import plan

    recognition, sli = plan(["sli_recovery", "recognition"], ["stroke_vit_tiny"], "demo", 0, str(tmp_path),
                            ["epochs=3.0", "steps=5.0", "max_sketches=null"])
    assert recognition.config["task"]["epochs"] == 3 and type(recognition.config["task"]["epochs"]) is int
    assert sli.config["task"]["steps"] == 5 and type(sli.config["task"]["steps"]) is int
    assert sli.config["task"]["max_sketches"] is None


@pytest.mark.parametrize("setting, message", [
    ("task.batch_size=1", "recognition.batch_size=1 is smaller than the 2 processes"),
    ("task.epochs=0", "recognition.epochs=0: expected a whole number of at least 1"),
    ("task.lr=-1", "recognition.lr=-1: expected a number above 0"),
    ("encoder.hidden=\"wide\"", 'encoder.hidden="wide": expected a whole number'),
    ("data.max_strokes=0", "data.max_strokes=0: expected a whole number of at least 1"),
])
def test_unusable_settings_are_one_line_errors(setting, message, tmp_path):
    done = bench("run", *FAST, "--set", setting, "--nproc", "2", "--results", str(tmp_path))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "runs").glob("*.json"))


def test_a_command_reads_its_dataset_once(tmp_path, monkeypatch):
    """The auto-trained classifier's run and the SLI run share one opened dataset, and the SLI
    run uses the checkpoint its recognition run just wrote."""
    from benchmark import plugins, run as runner

    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    monkeypatch.setenv("BENCH_PLUGINS", f"{TINY_PLUGIN}:bench_stroke_bag")
    plugins.reset()
    tiny = plugins.get_manager().dataset("tiny")
    opened = []
    read = tiny.open.__func__
    monkeypatch.setattr(tiny, "open", classmethod(lambda cls, config: opened.append(config) or read(cls, config)))
    specs = runner.plan(["sli_recovery"], ["stroke_bag"], "tiny", 0, str(tmp_path),
                        ["recognition.epochs=1", "steps=2", "pictures=0", "max_sketches=4"])
    (sli,) = runner.run(specs)
    (recognition,) = [r for r in records_in(tmp_path) if r["task"]["name"] == "recognition"]
    assert len(opened) == 1 and sli["task"]["name"] == "sli_recovery"
    assert sli["extra"]["checkpoint_used"] == {"path": f"runs/{recognition['artifacts']['checkpoint']}"}
