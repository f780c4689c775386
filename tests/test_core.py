"""The self-describing core: a plugin task ranks with no core edit, settings go by name, records
are true to the model, and the core names no built-in (checked on its source)."""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, TINY_PLUGIN, run_bench

BENCHMARK = ROOT / "benchmark"
PLUGINS = ROOT / "tests" / "plugins"
TOY_TASK = PLUGINS / "toy_task.py"
EXAMPLE_DIR = ROOT / "plugins" / "sketchxai-bench-stroke-bag"


def bench(*args):
    return run_bench("--plugin", str(TINY_PLUGIN), "--plugin", str(TOY_TASK), "--plugin", "bench_stroke_bag", *args,
                     env={"PYTHONPATH": f"{ROOT}:{EXAMPLE_DIR}"})


def records_in(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


def test_a_plugin_task_ranks_with_its_declared_metrics_and_no_core_edit(tmp_path):
    """The one-file task declares a per-sketch mean and a proportion: both become leaderboard
    columns with CIs and close-call tests, read from the records alone (no plugin loaded)."""
    for encoder in ("stroke_bag", "seq_lstm"):
        done = bench("run", "--task", "toy_rank", "--encoder", encoder, "--data", "tiny", "--results", str(tmp_path),
                     "--threads", "1")
        assert done.returncode == 0, done.stderr
    record = records_in(tmp_path)[0]
    assert record["schema_version"] == 2 and record["artifacts"]["per_sketch"].endswith("per_sketch.jsonl")
    assert record["metrics"]["label_rank"]["aggregation"] == "mean"
    assert record["metrics"]["agreement"]["test"] == "mcnemar"

    board = json.loads(run_bench("leaderboard", "--results", str(tmp_path), "--format", "json").stdout)
    headline = [c for c in board["columns"] if c["headline"]]  # JSON carries every column; boards the headline
    assert [c["key"] for c in headline] == ["toy_rank.label_rank", "toy_rank.agreement"]
    assert [c["label"] for c in headline] == ["label rank", "agreement"]
    assert headline[0]["higher_is_better"] is False
    assert [b["columns"] for b in board["boards"]] == [["toy_rank.label_rank", "toy_rank.agreement"]]
    for row in board["rows"]:
        for cell in row["metrics"].values():
            assert cell["ci_low"] <= cell["value"] <= cell["ci_high"] and cell["n"] == 28
    tests = {c["metric"]: c for c in board["comparisons"]}
    assert tests["toy_rank.label_rank"]["test"] == "permutation" and tests["toy_rank.agreement"]["test"] == "mcnemar"
    ranked = [row["metrics"]["toy_rank.label_rank"]["value"] for row in board["rows"]]
    assert tests["toy_rank.label_rank"]["statistic"] == pytest.approx(ranked[0] - ranked[1])  # ranked = tested
    assert 0 < tests["toy_rank.label_rank"]["p_value"] <= 1

    every = json.loads(run_bench("leaderboard", "--results", str(tmp_path), "--format", "json",
                                 "--all-metrics").stdout)
    assert "toy_rank.strokes" in [c["key"] for c in every["columns"]]
    for path in BENCHMARK.rglob("*.py"):
        assert "toy_rank" not in path.read_text(), f"{path} names the plugin task"


def test_a_classifier_trained_on_a_tasks_behalf_takes_only_its_own_settings(tmp_path):
    """`--set sli_recovery.lr=5` and bare keys of the SLI task never reach the classifier it trains;
    `recognition.*` settings do."""
    done = bench("run", "--task", "sli_recovery", "--encoder", "stroke_bag", "--data", "tiny", "--results",
                 str(tmp_path), "--set", "sli_recovery.lr=5", "--set", "batch_size=16", "--set", "recognition.epochs=2",
                 "--set", "steps=2", "--set", "pictures=0", "--set", "max_sketches=4", "--threads", "1")
    assert done.returncode == 0, done.stderr
    from tasks.recognition import Recognition

    by_task = {r["task"]["name"]: r for r in records_in(tmp_path)}
    trained = by_task["recognition"]["config"]["task"]
    assert trained["lr"] == Recognition.defaults["lr"] and trained["batch_size"] == Recognition.defaults["batch_size"]
    assert trained["epochs"] == 2
    assert by_task["sli_recovery"]["config"]["task"]["lr"] == 5
    assert by_task["sli_recovery"]["config"]["task"]["batch_size"] == 16


def test_an_sli_run_on_a_checkpoint_records_the_checkpoint_config(tmp_path):
    done = bench("run", "--task", "recognition", "--encoder", "stroke_bag", "--data", "tiny", "--results",
                 str(tmp_path), "--set", "encoder.hidden=24", "--set", "encoder.dropout=0", "--set", "epochs=1")
    assert done.returncode == 0, done.stderr
    (trained,) = records_in(tmp_path)
    assert trained["encoder"]["config_source"] == "command"
    checkpoint = tmp_path / "runs" / trained["artifacts"]["checkpoint"]
    sli_results = tmp_path / "sli"
    done = bench("run", "--task", "sli_recovery", "--encoder", "stroke_bag", "--data", "tiny", "--checkpoint",
                 str(checkpoint), "--results", str(sli_results), "--set", "steps=2", "--set", "pictures=0",
                 "--set", "max_sketches=4")
    assert done.returncode == 0, done.stderr
    (sli,) = records_in(sli_results)
    assert sli["config"]["encoder"] == {"hidden": 24, "dropout": 0}  # not the command's defaults (128, 0.1)
    from benchmark.records import sha256_of  # another results folder's checkpoint: by name and sha256

    assert sli["encoder"]["config_source"] == f"checkpoint {Path(checkpoint).name} (sha256 {sha256_of(checkpoint)[:12]})"
    assert str(checkpoint) not in json.dumps(sli)  # no path of this machine anywhere in the record
    assert any("come from checkpoint" in note for note in sli["notes"])
    assert sli["encoder"]["parameters"] == trained["encoder"]["parameters"]


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (also inside functions and TYPE_CHECKING blocks), absolute."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return out


def _core_modules() -> dict[str, Path]:
    modules = {}
    for path in BENCHMARK.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_the_core_imports_no_builtin_plugin():
    for name, path in _core_modules().items():
        bad = [m for m in _imports(path) if m.split(".")[0] in ("encoders", "tasks")]
        assert not bad, f"{name} imports {bad}"


def _code_text(path: Path) -> str:
    """The source without comments and documentation: docstrings and the ``EXAMPLES`` help texts (a
    ``--help`` example names a built-in as a docstring may; string constants that are code stay)."""
    source = path.read_text()
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add((first.lineno, first.end_lineno))
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.endswith("EXAMPLES") and isinstance(node.value, ast.Constant)):
            docstrings.add((node.value.lineno, node.value.end_lineno))
    import tokenize

    kept = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            continue
        if tok.type == tokenize.STRING and any(a <= tok.start[0] and tok.end[0] <= b for a, b in docstrings):
            continue
        kept.append(tok.string)
    return " ".join(kept)


def test_the_core_names_no_builtin_in_its_code():
    for name, path in _core_modules().items():
        found = re.findall(r"recognition|sli_|stroke_vit", _code_text(path))
        assert not found, f"{name} names {sorted(set(found))} outside docstrings and comments"


def test_the_core_has_no_import_cycles():
    modules = _core_modules()
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    # a package's __init__ is not an edge target: importing benchmark.x runs benchmark/__init__ first anyway
    graph = {name: {m for m in deps if modules[m].name != "__init__.py"} for name, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*trail[trail.index(dep):], dep])}")
            if not state.get(dep):
                visit(dep, [*trail, dep])
        state[node] = 2

    for name in sorted(graph):
        if not state.get(name):
            visit(name, [name])


def test_bench_list_tasks_shows_each_metric_declaration():
    done = run_bench("list", "tasks", "--json")
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    fidelity = rows["sli_recovery"]["metrics"]["fidelity"]
    assert fidelity["aggregation"] == "ratio_of_means" and fidelity["test"] == "permutation"
    assert fidelity["field"] == ["location_error_reduction", "location_error_before"] and fidelity["headline"]


def test_a_plugin_can_provide_the_classifier_of_sli_runs(tmp_path, monkeypatch):
    """`bench_classifier_provider` is firstresult: a plugin's tryfirst answer replaces the built-in
    one, and the planned classifier run is that task, with only its own named settings."""
    plugin = tmp_path / "provider.py"
    plugin.write_text("from benchmark import hookimpl\n\n"
                      "@hookimpl(tryfirst=True)\ndef bench_classifier_provider(encoder, dataset):\n"
                      "    return 'toy_rank'\n")
    from benchmark import plugins
    from benchmark.run import plan

    monkeypatch.setenv("BENCH_PLUGINS", f"{TOY_TASK}:{plugin}")
    plugins.reset()
    (sli,) = plan(["sli_recovery"], ["seq_lstm"], "demo", 0, str(tmp_path), ["toy_rank.batch_size=8", "batch_size=4"])
    assert sli.classifier.task == "toy_rank" and sli.classifier.config["task"]["batch_size"] == 8
    assert sli.config["task"]["batch_size"] == 4
    monkeypatch.setenv("BENCH_PLUGINS", "")
    plugins.reset()
    (sli,) = plan(["sli_recovery"], ["seq_lstm"], "demo", 0, str(tmp_path), [])
    assert sli.classifier.task == "recognition"
    (with_checkpoint,) = plan(["sli_recovery"], ["seq_lstm"], "demo", 0, str(tmp_path), [], checkpoint="ckpt")
    assert with_checkpoint.classifier is None


def test_a_reused_classifier_must_match_the_settings_that_name_it(tmp_path):
    """A recognition checkpoint in the results folder is reused by SLI runs, unless the command
    names recognition settings it was not trained with; resume fingerprints cover the classifier."""
    from benchmark import plugins
    from benchmark.run import plan
    from benchmark.run.execute import find_trained_checkpoint

    first = bench("run", "--task", "recognition", "--encoder", "stroke_bag", "--data", "tiny", "--results",
                  str(tmp_path), "--set", "epochs=1", "--threads", "1")
    assert first.returncode == 0, first.stderr
    (record,) = records_in(tmp_path)
    found = lambda named: find_trained_checkpoint(str(tmp_path), "recognition", "stroke_bag",  # noqa: E731
                                                  record["dataset"]["checksum"], record["config"]["encoder"],
                                                  record["config"]["data"], named)
    assert found({}) == tmp_path / "runs" / record["artifacts"]["checkpoint"]
    assert found({"epochs": 1}) is not None and found({"epochs": 40}) is None

    plugins.reset()
    a = plan(["sli_recovery"], ["seq_lstm"], "demo", 0, str(tmp_path), ["recognition.epochs=10"])[0]
    b = plan(["sli_recovery"], ["seq_lstm"], "demo", 0, str(tmp_path), ["recognition.epochs=40"])[0]
    assert a.config == b.config and a.fingerprint != b.fingerprint
    assert a.classifier_settings == {"epochs": 10}


def test_a_classifier_trained_with_location_noise_is_reused_only_when_named(tmp_path):
    """``recognition.location_noise`` is a distinct setting: the newest checkpoint is not taken by a
    command that did not ask for noise; one that names it gets it; a record without the key is noise 0."""
    from benchmark.run.execute import find_trained_checkpoint

    plain = bench("run", "--task", "recognition", "--encoder", "stroke_bag", "--data", "tiny", "--results",
                  str(tmp_path), "--set", "epochs=1", "--threads", "1")
    assert plain.returncode == 0, plain.stderr
    noisy = bench("run", "--task", "recognition", "--encoder", "stroke_bag", "--data", "tiny", "--results",
                  str(tmp_path), "--set", "epochs=1", "--set", "recognition.location_noise=0.2", "--threads", "1")
    assert noisy.returncode == 0, noisy.stderr
    by_noise = {r["config"]["task"]["location_noise"]: {**r, "_path": p}
                for p, r in ((p, json.loads(p.read_text())) for p in (tmp_path / "runs").glob("*.json"))}
    assert set(by_noise) == {0.0, 0.2}
    first = by_noise[0.0]

    def found(named):
        return find_trained_checkpoint(str(tmp_path), "recognition", "stroke_bag", first["dataset"]["checksum"],
                                       first["config"]["encoder"], first["config"]["data"], named, None,
                                       {"location_noise": 0.0})

    checkpoint = lambda r: tmp_path / "runs" / r["artifacts"]["checkpoint"]  # noqa: E731
    assert found({}) == checkpoint(by_noise[0.0])  # not the newer noisy one
    assert found({"location_noise": 0.2}) == checkpoint(by_noise[0.2])
    # an older record, written before the setting existed, counts as noise 0
    path = by_noise[0.0]["_path"]
    data = json.loads(path.read_text())
    del data["config"]["task"]["location_noise"]
    path.write_text(json.dumps(data))
    assert found({}) == checkpoint(by_noise[0.0])
    bad = bench("run", "--task", "recognition", "--encoder", "stroke_bag", "--data", "tiny", "--results",
                str(tmp_path), "--set", "recognition.location_noise=-1", "--dry-run")
    assert bad.returncode == 2 and "location_noise" in bad.stderr and "Traceback" not in bad.stderr
