"""Attribution tasks end to end (stroke_deletion, stroke_pointing, sanity_randomisation) and the
distractor demo data they need. Data: the synthetic demo generator (not human sketches)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchmark.data.demo import cache_path, generate, load_demo
from benchmark.data.h5store import open_h5
from benchmark.errors import BenchError
from benchmark.report.leaderboard import build
from conftest import run_bench
from tasks.attribution import SanityRandomisation, StrokeDeletion, StrokePointing
from tasks.attribution.pictures import GRID, mean_roc, roc_at, roc_points
from tasks.attribution.run import auroc, curve_area

SIZES = {"train": 8, "valid": 2, "test": 3}
#: The control explainers every attribution run has beside the named ones.
CONTROLS = ("random", "stroke_length", "point_count", "drawing_order", "centre_distance")
TINY = ["--set", "encoder.num_layers=1", "--set", "recognition.epochs=1", "--set", "data.per_class_train=8",
        "--set", "data.per_class_valid=2", "--set", "data.per_class_test=3", "--threads", "1"]


def test_distractor_labels_survive_writing_and_opening(tmp_path):
    out = tmp_path / "d.h5"
    generate(out, seed=0, sizes=SIZES, distractors=2)
    for lazy in (False, True):
        data = open_h5(out, lazy=lazy)
        assert data.name == "demo_distractors" and data.synthetic
        for split in data.splits.values():
            for i in range(len(split)):
                labels = split.stroke_labels_of(i)
                strokes = int((split.sketch(i)[:, 2] > 0.5).sum())
                assert len(labels) == strokes and int((labels == 0).sum()) == 2
    plain = load_demo(0, SIZES)
    with_distractors = load_demo(0, SIZES, distractors=2)
    assert plain.split("test").stroke_labels is None
    # the evidence strokes are the plain demo's, in their order (the distractors come on top)
    a, b = plain.split("test"), with_distractors.split("test")
    assert len(a) == len(b) and np.array_equal(a.labels, b.labels)


def test_the_plain_demo_is_unchanged_and_its_cache_name_too():
    assert cache_path(0, {"train": 160, "valid": 40, "test": 50}).name == "demo-v1-seed0-train160-valid40-test50.h5"


def test_tampered_stroke_labels_fail_the_checksum(tmp_path):
    out = tmp_path / "d.h5"
    generate(out, seed=0, sizes=SIZES, distractors=1)
    with h5py.File(out, "a") as f:
        labels = f["test/stroke_labels"][()]
        labels[0] = 1 - labels[0]
        f["test/stroke_labels"][...] = labels
    with pytest.raises(BenchError, match="content_checksum"):
        open_h5(out)


def test_curve_area_is_the_trapezoid_over_the_fraction_removed():
    assert curve_area(np.array([1.0, 0.0])) == 0.5
    assert curve_area(np.array([1.0, 1.0, 0.0])) == 0.75


def test_the_pointing_roc_path_has_the_auroc_as_its_area_and_averages_over_sketches():
    rng = np.random.default_rng(0)
    for _ in range(100):
        scores, evidence = rng.integers(0, 4, 7).astype(float), np.r_[1, 0, rng.integers(0, 2, 5)]  # ties too
        fpr, tpr = roc_points(scores, evidence == 1)
        assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
        assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(scores, evidence == 1))
    fpr, tpr = roc_points([3.0, 2.0, 2.0, 1.0], [True, True, False, False])
    assert fpr.tolist() == [0, 0, 0.5, 1] and tpr.tolist() == [0, 0.5, 1, 1]  # the tie is one diagonal step
    assert roc_at(fpr, tpr, np.array([0.0, 0.25, 0.5, 1.0])).tolist() == [0.5, 0.75, 1.0, 1.0]
    perfect, worst, one_kind = ([0.9, 0.1, 0.5], [1, 0, 1]), ([0.2, 0.3], [1, 0]), ([0.1, 0.2], [1, 1])
    curve = mean_roc([perfect, worst, one_kind], 0, "t")
    assert curve["x"][0] == 0 and curve["x"][-1] == 1 and len(curve["x"]) == GRID
    assert curve["y"][:-1] == [0.5] * (GRID - 1) and curve["y"][-1] == 1  # the mean of 1 and 0; both reach (1, 1)
    assert curve["reference"] == {"x": [0.0, 1.0], "y": [0.0, 1.0], "label": "chance"}
    assert "averaged over 2 sketches" in curve["caption"] and "not pooled" in curve["caption"]
    assert all(lo <= y <= hi for lo, y, hi in zip(curve["lo"], curve["y"], curve["hi"]))
    assert mean_roc([one_kind], 0, "t") is None


def _records(results: Path, task: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob(f"*-{task}-*.json"))]


def test_attribution_tasks_end_to_end_one_and_two_processes(tmp_path):
    """Real runs on the distractor demo: one row per explainer (the controls always there), declared
    metrics with CIs, curves in the record contract, a thumbnail strip, the pointing set's verdict
    and the classifier's accuracy (a 1-epoch classifier is at chance: not ranked); two processes give
    the same per-sketch rows as one."""
    results = tmp_path / "r"
    common = ["--encoder", "stroke_vit_tiny", "--data", "demo_distractors", "--results", str(results), *TINY]
    first = run_bench("run", "--task", "stroke_pointing", "--task", "stroke_deletion", "--explainer", "occlusion",
                      *common)
    assert first.returncode == 0, first.stderr
    pointing = {r["task"]["row_keys"]["explainer"]: r for r in _records(results, "stroke_pointing")}
    assert set(pointing) == {"occlusion", *CONTROLS}
    for record in pointing.values():
        verdict = record["extra"]["pointing_set"]
        assert set(verdict["controls"]) == set(CONTROLS) and isinstance(verdict["valid"], bool)
        assert "demo_distractors" in verdict["source"]
        classifier = record["extra"]["classifier"]
        assert classifier["chance"] == 1 / 12 and classifier["ci"][0] <= classifier["accuracy"] <= classifier["ci"][1]
        assert classifier["at_chance"] == any("at chance" in reason for reason in record["extra"]["unranked"])
        assert record["metrics"]["classifier_accuracy"]["n"] == 36
        auroc = record["metrics"]["pointing_auroc"]
        assert 0 <= auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"] <= 1 and auroc["n"] == 36
        assert set(record["extra"]["curves"]) == set(StrokePointing.curves) and record["task"]["version"] == "3"
        roc = record["extra"]["curves"]["pointing_roc"]
        assert len(roc["x"]) == len(roc["y"]) == len(roc["lo"]) == len(roc["hi"]) == 21 and roc["y"][-1] == 1
        assert roc["reference"]["label"] == "chance"
        svg = (results / "runs" / record["artifacts"]["thumbnails"]).read_text()
        assert 'width="600" height="120" viewBox="0 0 600 120"' in svg and "stroke-dasharray" in svg
    assert pointing["random"]["metrics"]["auroc_vs_random"]["value"] == 0
    deletion = _records(results, "stroke_deletion")[0]
    assert set(deletion["extra"]["curves"]) == set(StrokeDeletion.curves)
    for name in ("deletion_morf", "deletion_lerf"):
        curve = deletion["extra"]["curves"][name]
        assert len(curve["x"]) == len(curve["y"]) == len(curve["lo"]) == len(curve["hi"]) == 21
        assert curve["x"][0] == 0 and curve["x"][-1] == 1 and {"x_label", "y_label", "title"} <= set(curve)
    rows = [json.loads(line) for line in (results / "runs" / deletion["artifacts"]["per_sketch"]).read_text().splitlines()]
    assert all(len(r["morf"]) == r["num_strokes"] + 1 == len(r["lerf"]) for r in rows)
    assert all(r["morf"][0] == r["lerf"][0] and abs(r["morf"][-1] - r["lerf"][-1]) < 1e-6 for r in rows)

    board = build(results, tasks=["stroke_pointing"])
    assert "explainer" in board.row_fields and sorted(board.frame["explainer"]) == sorted(["occlusion", *CONTROLS])

    two = run_bench("run", "--task", "stroke_pointing", "--explainer", "occlusion", "--nproc", "2",
                    "--results", str(tmp_path / "two"), "--checkpoint",
                    str(results / "runs" / _records(results, "recognition")[0]["artifacts"]["checkpoint"]), *common[:4], *TINY)
    assert two.returncode == 0, two.stderr
    by = {}
    for folder in (results, tmp_path / "two"):
        for record in _records(folder, "stroke_pointing"):
            if record["task"]["row_keys"]["explainer"] == "occlusion":
                by[folder] = (folder / "runs" / record["artifacts"]["per_sketch"]).read_text()
    assert by[results] == by[tmp_path / "two"]


def test_sanity_randomisation_fails_the_model_independent_control(tmp_path):
    results = tmp_path / "r"
    done = run_bench("run", "--task", "sanity_randomisation", "--explainer", "gradient", "--encoder", "stroke_vit_tiny",
                     "--data", "demo_distractors", "--results", str(results), *TINY)
    assert done.returncode == 0, done.stderr
    records = {r["task"]["row_keys"]["explainer"]: r for r in _records(results, "sanity_randomisation")}
    control = records["random"]
    assert control["metrics"]["spearman_full"]["value"] == 1 and control["metrics"]["passed"]["value"] == 0
    assert set(records["gradient"]["extra"]["curves"]) == set(SanityRandomisation.curves)
    curve = records["gradient"]["extra"]["curves"]["sanity_spearman"]
    assert len(curve["y"]) == len(records["gradient"]["extra"]["sanity"]["layers_top_down"]) == 6  # 1 layer ViT
    assert run_bench("leaderboard", "--results", str(results)).returncode == 0
