"""Stroke location inversion (SLI) tasks: ``sli_recovery`` and ``sli_transfer`` (light module).

Both freeze a trained classifier (eval mode) and optimise only the strokes' start locations of a
seeded sample of test sketches, in batches (every sketch optimised independently; see
:mod:`tasks.inversion`). Any encoder declaring the ``sli`` capability works. Defaults follow the
published protocol: SGD, lr 10, 100 steps, cosine annealing to 1e-5, gradient-norm clip 0.5 / lr,
cross-entropy toward the target. The torch code lives in :mod:`tasks.sli_run`.
"""

from __future__ import annotations

import dataclasses

from benchmark import SLI, Metric, Task
from benchmark.config import check_choice, check_number
from tasks.sli_protocol import INITS, Protocol, protocol_defaults

_COMMON = {
    "split": "test",
    "max_sketches": 500,
    "batch_size": 256,
    **protocol_defaults(),
    "pictures": 12,
    "animation_frames": 51,
}

_SPEED = Metric(True, "sketches inverted per second, all processes", "sketches/s")


class _SLITask(Task):
    requires = frozenset({SLI})
    requires_trained = True

    @classmethod
    def check_config(cls, config):
        config.update(dataclasses.asdict(Protocol.from_config(config)))
        config["batch_size"] = check_number("task.batch_size", config["batch_size"], whole=True, least=1)
        for key in ("pictures", "animation_frames"):
            config[key] = check_number(f"task.{key}", config[key], whole=True, least=0)
        config["max_sketches"] = check_number("task.max_sketches", config["max_sketches"], whole=True, least=1,
                                              nullable=True, null_means="all")


class SLIRecovery(_SLITask):
    """Scramble every stroke's start location, then let the frozen classifier optimise the
    locations back toward the true class; measures how far the true layout is recovered."""

    name = "sli_recovery"
    description = "Stroke location inversion: scrambled stroke start points optimised back toward the true class"
    version = "1"
    defaults = {**_COMMON, "init": "randn", "init_scale": 0.1}
    metrics = {
        "fidelity": Metric(True, "1 - mean location error after / mean location error before (1: layout fully "
                                 "recovered, 0: no closer than the scrambled start, < 0: further); sketches with "
                                 "one stroke excluded; per-sketch values in per_sketch.jsonl", "fraction"),
        "aligned_fidelity": Metric(True, "fidelity after the best similarity transform (rotation, scale, "
                                         "translation) of each layout onto the true one: is the arrangement "
                                         "recovered, whatever its size or orientation; sketches with fewer than "
                                         "three strokes excluded", "fraction"),
        "location_error_before": Metric(False, "mean distance of scrambled to true start points, global "
                                               "translation removed", "normalised units"),
        "location_error_after": Metric(False, "mean distance of recovered to true start points, global "
                                              "translation removed", "normalised units"),
        "chamfer_before": Metric(False, "symmetric Chamfer distance of the scrambled to the original drawing",
                                 "normalised units"),
        "chamfer_after": Metric(False, "symmetric Chamfer distance of the recovered to the original drawing",
                                "normalised units"),
        "accuracy_before": Metric(True, "top-1 accuracy on the scrambled sketches", "fraction"),
        "accuracy_after": Metric(True, "top-1 accuracy on the recovered sketches", "fraction"),
        "p_true_before": Metric(True, "mean true-class probability on the scrambled sketches", "probability"),
        "p_true_after": Metric(True, "mean true-class probability on the recovered sketches", "probability"),
        "steps_to_correct": Metric(False, "mean step of the first correct prediction, over sketches that got "
                                          "one (0: correct from the start)", "steps"),
        "sketches_per_s": _SPEED,
    }

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        check_choice("task.init", config["init"], INITS)
        check_number("task.init_scale", config["init_scale"], least=0)

    def run(self, ctx):
        from tasks.sli_run import run_recovery

        return run_recovery(ctx)


class SLITransfer(_SLITask):
    """Start from the true locations and optimise them toward another class (a seeded random
    other class per sketch, or ``target=CATEGORY``); measures how easily the layout alone flips
    the prediction."""

    name = "sli_transfer"
    description = "Stroke location inversion: true stroke start points optimised toward another class"
    version = "1"
    defaults = {**_COMMON, "target": None}
    metrics = {
        "success_rate": Metric(True, "fraction of sketches predicted as the target class at the end", "fraction"),
        "steps_to_flip": Metric(False, "mean step of the first target prediction, over sketches that reached "
                                       "it", "steps"),
        "displacement": Metric(False, "mean start-point displacement at the first target prediction, over "
                                      "sketches that reached it", "normalised units"),
        "p_original_drop": Metric(True, "mean drop of the original class's probability", "probability"),
        "p_target_after": Metric(True, "mean target-class probability at the end", "probability"),
        "sketches_per_s": _SPEED,
    }

    def run(self, ctx):
        from tasks.sli_run import run_transfer

        return run_transfer(ctx)


TASKS = (SLIRecovery, SLITransfer)
