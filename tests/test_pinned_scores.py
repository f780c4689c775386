"""Every built-in task's scores on fixed inputs, pinned to the task's version.

A known-answer classifier (tests/plugins/layout_oracle.py, a fixed checkpoint written here) is
scored by each built-in task on the tiny dataset through the CLI; the attribution tasks, which
remove strokes (the oracle needs both of its strokes), score a seeded one-layer stroke_vit_tiny
checkpoint instead. If a score changes while the
task's version stays the same, scoring changed without a version bump: bump ``version`` of the
task (records of different versions are never compared) and re-pin its scores here. A new
built-in task must be pinned too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, TINY_PLUGIN, run_bench

ORACLE = ROOT / "tests" / "plugins" / "layout_oracle.py"
SETTINGS = {"recognition": [], "location_reliance": [],
            "sli_recovery": ["--set", "steps=10", "--set", "max_sketches=12", "--set", "pictures=1"],
            "sli_transfer": ["--set", "steps=10", "--set", "max_sketches=12", "--set", "pictures=1"],
            "stroke_deletion": ["--set", "max_sketches=12", "--set", "encoder.num_layers=1"],
            "stroke_pointing": ["--set", "max_sketches=12", "--set", "data.stroke_labels=true",
                                "--set", "encoder.num_layers=1"],
            "sanity_randomisation": ["--set", "max_sketches=12", "--set", "encoder.num_layers=1"]}
#: task -> (version, {metric: value}) for the oracle checkpoint below; speeds are not scores.
PINNED = {
    "recognition": ("1", {"test_loss": 0.0859240132269262, "top1": 1.0, "top5": 1.0}),
    "location_reliance": ("1", {"p_true_drop": 0.6673203957136205, "p_true_drop_shuffle": 0.3341171478938102,
                                "reliance": 0.75, "reliance_shuffle": 0.375, "top1_scrambled": 0.25,
                                "top1_shuffled": 0.625, "top1_true": 1.0}),
    "sli_recovery": ("5", {"accuracy_after": 1.0, "accuracy_before": 0.3333333333333333, "aligned_fidelity": None,
                           "aligned_skill": None, "chamfer_after": 0.33406107915738587,
                           "chamfer_before": 0.16928625913765014, "control_accuracy_after": 1.0,
                           "control_aligned_fidelity": None, "control_fidelity": -0.691310226100502,
                           "control_layout_preference": 0.2708333333333333, "layout_preference": 0.2708333333333333,
                           "preference_skill": 0.0,
                           "control_local_fidelity": 0.3817572926134134,
                           "control_local_fidelity_margin": 0.45013179805297243,
                           "control_location_error_after": 0.470311197040216, "control_strokes_recovered": 0.0,
                           "fidelity": -0.691310226100502, "local_fidelity": 0.3817572926134134,
                           "local_fidelity_margin": 0.45013179805297243, "local_skill": 0.0,
                           "location_error_after": 0.470311197040216, "location_error_before": 0.2780750626244182,
                           "p_true_after": 0.9999287724494934, "p_true_before": 0.3242287151005219, "skill": 0.0,
                           "steps_to_correct": 0.75, "strokes_recovered": 0.0}),
    "sli_transfer": ("2", {"control_success_rate": 1.0, "displacement": 0.35355336802197296,
                           "p_original_drop": 0.919250322039305, "p_target_after": 0.9999100665251414, "skill": 0.0,
                           "steps_to_flip": 1.0, "success_at_start": 0.0, "success_on_canvas": 0.75,
                           "success_rate": 1.0}),
    "stroke_deletion": ("2", {"classifier_accuracy": 0.4166666666666667, "deletion_gap": 0.006624964376290639, "gap_vs_random": 0.003496255725622177,
                              "lerf_area": 0.2662682005514701, "morf_area": 0.2596432361751795,
                              "p_full": 0.2693912076453368}),
    "stroke_pointing": ("3", {"auroc_vs_random": 0.0, "classifier_accuracy": 0.4166666666666667, "pointing_auroc": 0.5, "top_is_evidence": 0.5}),
    "sanity_randomisation": ("2", {"classifier_accuracy": 0.4166666666666667, "passed": 1.0, "spearman_full": -0.8333333333333331}),
}


#: Absolute tolerance of a pinned score (see the assertion).
ABS = 1e-7
#: Tasks scored on the seeded stroke ViT checkpoint rather than the oracle.
ON_VIT = ("stroke_deletion", "stroke_pointing", "sanity_randomisation")


@pytest.fixture(scope="module")
def vit_checkpoint(tmp_path_factory) -> Path:
    import torch

    from benchmark.checkpoints import save_checkpoint
    from benchmark.plugins import Manager

    manager = Manager((str(TINY_PLUGIN),), autoload=False)
    cls = manager.encoder("stroke_vit_tiny")
    categories = manager.dataset("tiny").open(dict(manager.dataset("tiny").defaults)).categories
    config = {**cls.defaults, "num_layers": 1}
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vit") / "checkpoint"
    save_checkpoint(folder, cls.name, cls.version, cls.build(len(categories), config), config, categories)
    return folder


@pytest.fixture(scope="module")
def oracle_checkpoint(tmp_path_factory) -> Path:
    from benchmark.checkpoints import save_checkpoint
    from benchmark.plugins import Manager

    manager = Manager((str(TINY_PLUGIN), str(ORACLE)), autoload=False)
    cls = manager.encoder("layout_oracle")
    categories = manager.dataset("tiny").open(dict(manager.dataset("tiny").defaults)).categories
    folder = tmp_path_factory.mktemp("oracle") / "checkpoint"
    save_checkpoint(folder, cls.name, cls.version, cls.build(len(categories), {}), dict(cls.defaults), categories)
    return folder


def test_every_builtin_task_is_pinned():
    from benchmark.plugins import get_manager

    builtin = {name for name, entry in get_manager().registry("task").items() if entry.plugin == "tasks"}
    assert builtin == set(PINNED)


@pytest.mark.parametrize("task", sorted(PINNED))
def test_scores_on_fixed_inputs_match_the_task_version(task, oracle_checkpoint, vit_checkpoint, tmp_path):
    encoder, checkpoint = ("stroke_vit_tiny", vit_checkpoint) if task in ON_VIT else ("layout_oracle", oracle_checkpoint)
    done = run_bench("--plugin", str(TINY_PLUGIN), "--plugin", str(ORACLE), "run", "--task", task, "--encoder",
                     encoder, "--data", "tiny", "--checkpoint", str(checkpoint), "--results",
                     str(tmp_path), "--threads", "1", *SETTINGS[task])
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    # an attribution task runs its default explainer (occlusion) and the controls: pin the former
    (record,) = [r for r in records if (r["task"].get("row_keys") or {}).get("explainer") in (None, "occlusion")]
    scores = {name: m["value"] for name, m in record["metrics"].items() if m["kind"] != "speed"}
    version, pinned = PINNED[task]
    assert record["task"]["version"] == version, (
        f"{task} is now version {record['task']['version']}: re-pin its scores here ({scores})")
    # float32 kernels differ by CPU (oneDNN picks them by instruction set): probabilities agree to ~1e-8
    # across machines, so differences of probabilities (gaps) only to ~1e-8 absolute; a scoring change
    # moves scores by far more than ABS
    assert scores.keys() == pinned.keys() and all(
        (scores[k] is None and pinned[k] is None) or scores[k] == pytest.approx(pinned[k], rel=1e-6, abs=ABS)
        for k in pinned), (f"{task} scores changed without a version bump: bump {task}'s version and re-pin "
                           f"(got {scores}, pinned {pinned})")
