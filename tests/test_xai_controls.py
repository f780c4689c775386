"""Numbers you can trust: the training recipe, location reliance, SLI controls and presets,
training-seed aggregation and the measure-validation ladder (issue 17)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import ROOT, TINY_PLUGIN, run_bench

ORACLE = ROOT / "tests" / "plugins" / "layout_oracle.py"
SMALL_VIT = ["--set", "encoder.hidden_size=16", "--set", "encoder.num_layers=1", "--set", "encoder.num_heads=2",
             "--set", "encoder.mlp_size=32"]


def _checkpoint(tmp_path: Path, encoder: str, config: dict | None = None, plugins=(TINY_PLUGIN,)) -> Path:
    import torch

    from benchmark.checkpoints import save_checkpoint
    from benchmark.plugins import Manager

    manager = Manager(tuple(str(p) for p in plugins), autoload=False)
    cls = manager.encoder(encoder)
    categories = manager.dataset("tiny").open(dict(manager.dataset("tiny").defaults)).categories
    full = cls.full_config(config or {})
    torch.manual_seed(0)
    folder = tmp_path / f"{encoder}-checkpoint"
    save_checkpoint(folder, cls.name, cls.version, cls.build(len(categories), full), full, categories)
    return folder


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


def _rows(results: Path, record: dict) -> list[dict]:
    path = results / "runs" / record["artifacts"]["per_sketch"]
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- recipe ---------------------------------------------------------------------------------------


def test_the_default_recipe_sizes_epochs_to_the_data_and_the_command_wins():
    from tasks.recognition import Recognition
    from tasks.recognition.recipe import resolve_recipe

    cfg = dict(Recognition.defaults)
    Recognition.check_config(cfg)
    demo = resolve_recipe(cfg, steps_per_epoch=20)  # demo: 1,920 training sketches, batch 100
    assert (demo["epochs"], demo["lr"], demo["epochs_from"]) == (30, 1e-3, "recipe auto")
    large = resolve_recipe(cfg, steps_per_epoch=10_000)  # plenty of data: the published 20 epochs
    assert large["epochs"] == 20
    published = resolve_recipe({**cfg, "recipe": "published"}, steps_per_epoch=20)
    assert (published["epochs"], published["lr"]) == (20, 3e-4)
    named = resolve_recipe({**cfg, "epochs": 3, "lr": 0.01}, steps_per_epoch=20)
    assert (named["epochs"], named["lr"], named["epochs_from"], named["lr_from"]) == (3, 0.01, "command", "command")


def test_a_bad_recipe_is_a_one_line_error(tmp_path):
    done = run_bench("run", "--task", "recognition", "--set", "recipe=fast", "--results", str(tmp_path))
    assert done.returncode == 2
    assert "recognition.recipe" in done.stderr and "published" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_record_says_which_recipe_trained_the_model(tmp_path):
    done = run_bench("--plugin", str(TINY_PLUGIN), "run", "--task", "recognition", "--encoder", "stroke_vit_tiny",
                     "--data", "tiny", "--results", str(tmp_path), "--threads", "1", "--set", "epochs=1", *SMALL_VIT)
    assert done.returncode == 0, done.stderr
    (record,) = _records(tmp_path)
    recipe = record["extra"]["recipe"]
    assert (recipe["name"], recipe["epochs"], recipe["epochs_from"], recipe["lr"], recipe["lr_from"]) == \
        ("auto", 1, "command", 1e-3, "recipe auto")
    assert record["config"]["encoder"]["location_init_std"] == 1.0


# -- location reliance --------------------------------------------------------------------------


def test_location_reliance_of_an_encoder_that_ignores_locations_is_zero(tmp_path):
    checkpoint = _checkpoint(tmp_path, "stroke_vit_tiny_no_location",
                             {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "mlp_size": 32})
    done = run_bench("--plugin", str(TINY_PLUGIN), "run", "--task", "location_reliance", "--encoder",
                     "stroke_vit_tiny_no_location", "--data", "tiny", "--checkpoint", str(checkpoint), "--results",
                     str(tmp_path / "r"), "--threads", "1")
    assert done.returncode == 0, done.stderr
    (record,) = _records(tmp_path / "r")
    for name in ("reliance", "reliance_shuffle", "p_true_drop", "p_true_drop_shuffle"):
        assert abs(record["metrics"][name]["value"]) < 1e-6, name
    rows = _rows(tmp_path / "r", record)
    assert len(rows) == record["dataset"]["splits"]["test"]
    assert all(abs(r["p_true_drop_scrambled"]) < 1e-6 for r in rows)
    assert record["extra"]["tests"]["accuracy_true_vs_scrambled"]["p_value"] == 1.0


def test_location_reliance_of_a_layout_classifier_is_large_and_tested(tmp_path):
    checkpoint = _checkpoint(tmp_path, "layout_oracle", plugins=(TINY_PLUGIN, ORACLE))
    done = run_bench("--plugin", str(TINY_PLUGIN), "--plugin", str(ORACLE), "run", "--task", "location_reliance",
                     "--encoder", "layout_oracle", "--data", "tiny", "--checkpoint", str(checkpoint), "--results",
                     str(tmp_path / "r"), "--threads", "1")
    assert done.returncode == 0, done.stderr
    (record,) = _records(tmp_path / "r")
    metrics = record["metrics"]
    assert metrics["top1_true"]["value"] == 1.0
    assert metrics["reliance"]["value"] > 0.3 and metrics["reliance"]["ci_low"] > 0
    assert math.isclose(metrics["reliance"]["value"], 1.0 - metrics["top1_scrambled"]["value"], abs_tol=1e-12)
    assert record["extra"]["tests"]["accuracy_true_vs_scrambled"]["p_value"] < 0.05


# -- SLI controls and presets -------------------------------------------------------------------


def test_the_random_weights_control_inverts_the_same_sketches_from_the_same_starts(tmp_path):
    """layout_oracle's 'random weights' are its only weights (an analytic model), so a control that
    used the same sketches, starts and targets must end exactly where the classifier did."""
    checkpoint = _checkpoint(tmp_path, "layout_oracle", plugins=(TINY_PLUGIN, ORACLE))
    done = run_bench("--plugin", str(TINY_PLUGIN), "--plugin", str(ORACLE), "run", "--task", "sli_recovery",
                     "--task", "sli_transfer", "--encoder", "layout_oracle", "--data", "tiny", "--checkpoint",
                     str(checkpoint), "--results", str(tmp_path / "r"), "--threads", "1", "--set", "task.steps=10",
                     "--set", "task.max_sketches=12", "--set", "task.pictures=0")
    assert done.returncode == 0, done.stderr
    by_task = {r["task"]["name"]: r for r in _records(tmp_path / "r")}
    recovery = _rows(tmp_path / "r", by_task["sli_recovery"])
    assert len(recovery) == 12
    for row in recovery:
        assert row["control_location_error_after"] == pytest.approx(row["location_error_after"], abs=1e-6)
        assert row["control_pred_after"] == row["pred_after"]
        assert row["skill_reduction"] is None or abs(row["skill_reduction"]) < 1e-6
    assert abs(by_task["sli_recovery"]["metrics"]["skill"]["value"]) < 1e-6
    transfer = _rows(tmp_path / "r", by_task["sli_transfer"])
    assert all(r["control_success"] == r["success"] and r["transfer_skill"] == 0 for r in transfer)
    metrics = by_task["sli_transfer"]["metrics"]
    assert metrics["success_on_canvas"]["value"] <= metrics["success_rate"]["value"]
    assert metrics["success_at_start"]["value"] == 0.0


def test_presets_are_recorded_and_a_named_setting_wins(tmp_path):
    from tasks.sli import SLIRecovery

    cfg = dict(SLIRecovery.defaults, preset="bounded")
    SLIRecovery.check_config(cfg)
    assert (cfg["canvas"], cfg["early_stop_probability"]) == (0.74, 0.9)
    cfg = dict(SLIRecovery.defaults, preset="bounded", canvas=0.5)
    SLIRecovery.check_config(cfg)
    assert (cfg["canvas"], cfg["early_stop_probability"]) == (0.5, 0.9)

    checkpoint = _checkpoint(tmp_path, "layout_oracle", plugins=(TINY_PLUGIN, ORACLE))
    for preset in ("published", "bounded"):
        done = run_bench("--plugin", str(TINY_PLUGIN), "--plugin", str(ORACLE), "run", "--task", "sli_recovery",
                         "--encoder", "layout_oracle", "--data", "tiny", "--checkpoint", str(checkpoint), "--results",
                         str(tmp_path / "r"), "--threads", "1", "--set", f"preset={preset}", "--set", "steps=10",
                         "--set", "max_sketches=8", "--set", "pictures=0")
        assert done.returncode == 0, done.stderr
    records = {r["task"]["variant"]["preset"]: r for r in _records(tmp_path / "r")}
    assert records["bounded"]["config"]["task"]["canvas"] == 0.74
    assert records["published"]["config"]["task"]["canvas"] is None
    board = run_bench("leaderboard", "--results", str(tmp_path / "r"), "--format", "json")
    assert board.returncode == 0, board.stderr
    labels = [c["label"] for c in json.loads(board.stdout)["columns"]]
    assert "SLI fidelity (bounded)" in labels and "SLI fidelity (published)" in labels
    bad = run_bench("run", "--task", "sli_recovery", "--set", "preset=tight", "--results", str(tmp_path / "x"))
    assert bad.returncode == 2 and "sli_recovery.preset" in bad.stderr


# -- training seeds -----------------------------------------------------------------------------


def test_several_seeds_plan_each_run_with_its_own_classifier():
    from benchmark.run import plan

    specs = plan(["sli_recovery"], ["stroke_vit_tiny"], "demo", [0, 1, 2], "results/x", [])
    assert [s.seed for s in specs] == [0, 1, 2]
    assert all(s.seeds == (0, 1, 2) and s.classifier.seed == s.seed for s in specs)
    assert len({s.classifier.fingerprint for s in specs}) == 3


def test_between_seed_interval_combines_seed_variance_and_test_sampling():
    from scipy.stats import t

    from benchmark.report.leaderboard import over_seeds

    entries = [{"value": v, "ci_low": v - 0.05, "ci_high": v + 0.05, "n": 100} for v in (0.5, 0.6, 0.7)]
    out = over_seeds(entries)
    half = math.sqrt((t.ppf(0.975, 2) * 0.1 / math.sqrt(3)) ** 2 + 0.05 ** 2)
    assert out["value"] == pytest.approx(0.6)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((0.6 - half, 0.6 + half))
    assert out["seeds"] == 3 and out["n"] == 100
    same = over_seeds([{"value": 0.5, "ci_low": 0.45, "ci_high": 0.55, "n": 10}] * 2)
    assert (same["ci_low"], same["ci_high"]) == pytest.approx((0.45, 0.55))  # no seed variance: the test CI


def test_a_multi_seed_command_is_one_leaderboard_row(tmp_path):
    checkpoint = _checkpoint(tmp_path, "layout_oracle", plugins=(TINY_PLUGIN, ORACLE))
    done = run_bench("--plugin", str(TINY_PLUGIN), "--plugin", str(ORACLE), "run", "--task", "location_reliance",
                     "--encoder", "layout_oracle", "--data", "tiny", "--checkpoint", str(checkpoint), "--results",
                     str(tmp_path / "r"), "--threads", "1", "--seed", "0,1,2")
    assert done.returncode == 0, done.stderr
    records = _records(tmp_path / "r")
    assert sorted(r["seed"] for r in records) == [0, 1, 2] and all(r["seeds"] == [0, 1, 2] for r in records)
    board = run_bench("leaderboard", "--results", str(tmp_path / "r"), "--format", "json")
    assert board.returncode == 0, board.stderr
    out = json.loads(board.stdout)
    (row,) = out["rows"]
    assert row["seeds"] == "0,1,2"
    values = [r["metrics"]["reliance"]["value"] for r in records]
    assert row["metrics"]["location_reliance.reliance"]["value"] == pytest.approx(sum(values) / 3)
    assert "superseded" not in board.stderr
    bad = run_bench("run", "--seed", "0,x", "--results", str(tmp_path / "x"))
    assert bad.returncode == 2 and "--seed" in bad.stderr


# -- the measure-validation ladder --------------------------------------------------------------


def test_the_known_answer_classifier_tops_the_ladder(tmp_path):
    from tasks import validation as v

    setup = v.Setup(tmp_path, max_sketches=12, threads=1, seeds=(0, 1), data="tiny",
                    plugins=(v.PLUGIN, str(TINY_PLUGIN)),
                    overrides=("sli_recovery.steps=20", "recognition.epochs=40", "recognition.min_steps=0"))
    rungs = (v.Rung("known answer", "known_answer", "known_answer"), v.Rung("trained", "seq_lstm", "train"))
    ladder = v.build_ladder(setup, rungs, v.Rung("random weights", "seq_lstm", "random"))
    assert set(ladder["rungs"]["trained"]["seeds"]) == {"0", "1"}
    measures = (v.Measure("local", "sli_recovery", "local_fidelity", "published"),
                v.Measure("fidelity", "sli_recovery", "fidelity", "published"),
                v.Measure("bounded", "sli_recovery", "fidelity", "bounded"))
    rows = v.evaluate(tmp_path, measures)
    for row in rows:
        known, trained = row["rungs"]
        assert known["value"] > trained["value"], row
        assert known["reliance"] > trained["reliance"]
        assert row["spearman"]["value"] == pytest.approx(1.0) and set(row["pairs"]) == {"0", "1"}
        assert row["verdict"] in ("holds", "order only"), row
    assert rows[0]["rungs"][0]["value"] == pytest.approx(1.0)  # the known answer's step points straight back
    assert rows[1]["rungs"][0]["value"] > 0.5  # it recovers most of the layout
    # the control is scored beside, never ranked: a random-weights classifier's local fidelity is near 0
    assert all(abs(c["value"]) < 0.5 for c in rows[0]["control"].values())
    text = v.markdown(rows, ladder, tmp_path)
    assert "| local ↑ |" in text and "known answer" in text and "reliance, seed 1" in text
    assert json.loads((tmp_path / "ladder.json").read_text())["rungs"]["random weights"]["classifier"] == "random"
    # a second command with the same settings reuses every finished rung and trained classifier
    before = sorted(p.name for p in (tmp_path / "runs").glob("*.json"))
    v.build_ladder(setup, rungs, v.Rung("random weights", "seq_lstm", "random"))
    assert sorted(p.name for p in (tmp_path / "runs").glob("*.json")) == before


@pytest.fixture(scope="module")
def committed_ladder():
    """The committed ladder's folder, manifest and evaluation (evaluated once: about a minute)."""
    from benchmark.plugins import configure
    from tasks import validation as v

    folder = ROOT / "results" / "validation" / "demo"
    if not (folder / "ladder.json").is_file():
        pytest.skip("no committed validation ladder")
    configure((v.PLUGIN,))
    return folder, json.loads((folder / "ladder.json").read_text()), v.evaluate(folder)


def test_the_committed_validation_table_is_rebuilt_from_its_records(committed_ladder):
    from tasks import validation as v

    folder, ladder, rows = committed_ladder
    assert (folder.parent / "VALIDATION.md").read_text() == v.markdown(rows, ladder, folder), (
        "results/validation/VALIDATION.md is stale: run python -m tasks.validation --results results/validation/demo "
        "--table-only --out results/validation/VALIDATION.md")
    # the graded ladder: two seeds, at least six trained rungs scored by SLI, one of them no stroke ViT
    trained = [r for r in ladder["rungs"].values() if r["sli"] and r["classifier"] == "train"]
    assert len(ladder["seeds"]) >= 2 and len(trained) >= 6
    assert any(not r["encoder"].startswith("stroke_vit") for r in trained)


def test_every_declared_verdict_is_the_committed_ladders(committed_ladder):
    """A metric's ``validation`` (printed beside its column) is what the committed ladder measured:
    each declaration the ladder scores agrees with ``results/validation/VALIDATION.md``'s verdict."""
    from benchmark.plugins import get_manager
    from tasks import validation as v

    measured = {f"{row['task']}.{row['metric']}": row["verdict"] for row in committed_ladder[2]}
    manager = get_manager()
    checked = 0
    for m in v.MEASURES:
        declared = manager.task(m.task).metrics[m.metric].verdict(m.preset or "")
        assert declared == measured[f"{m.key}.{m.metric}"], (m, declared, measured)
        checked += 1
    assert checked == len(v.MEASURES)
    # the SLI headline is a measure that holds, if any does
    headline = [name for name, metric in manager.task("sli_recovery").metrics.items() if metric.headline
                and not metric.control_of and metric.verdict("published")]
    assert headline, "the SLI board's headline columns carry no ladder verdict"
    if "holds" in measured.values():
        assert manager.task("sli_recovery").metrics[headline[0]].verdict("published") == "holds"
