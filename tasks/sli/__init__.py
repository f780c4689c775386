"""The stroke location inversion (SLI) family: ``sli_recovery`` and ``sli_transfer``.

Where each part lives (this module is light: no torch):

- here: the two tasks (settings, metric declarations) and the family's perf targets;
- :mod:`tasks.sli.protocol`: the optimisation protocol, its settings and presets;
- :mod:`tasks.sli.inversion`: the batched inversion (torch) and the published loop it is held to;
- :mod:`tasks.sli.run`: a run: sketches, starts, targets, the controls, per-sketch rows, gallery;
- :mod:`tasks.sli.metrics`: the per-sketch measures (location error, alignment, fidelity);
- :mod:`tasks.sli.pictures`: thumbnails, trajectories and the gallery pages;
- :mod:`tasks.sli.perf`: ``bench perf sli`` and ``bench perf controls``.


Both freeze a trained classifier (eval mode) and optimise only the strokes' start locations of a
seeded sample of test sketches, in batches (every sketch optimised independently; see
:mod:`tasks.sli.inversion`). Any encoder declaring the ``sli`` capability works. Defaults follow the
published protocol: SGD, lr 10, 100 steps, cosine annealing to 1e-5, gradient-norm clip 0.5 / lr,
cross-entropy toward the target (``preset=published``); ``preset=bounded`` keeps start points
inside the data's box and stops a sketch once the target is reached with probability 0.9 (see
:data:`tasks.sli.protocol.PRESETS`). Records of the two presets are separate leaderboard columns.

Every number comes with its controls, computed in the same run on the same sketches, starts and
targets: the **random-weights control** (the same architecture at fresh random weights, the
model-randomisation check of Adebayo et al. 2018; a measure that scores it as well as the trained
classifier says nothing about what was learned) and the **no-move control** (the start itself:
``location_error_before``, ``accuracy_before``, ``success_at_start``). ``skill`` is the trained
classifier's score minus the random-weights control's, per sketch, with its CI. The torch code
lives in :mod:`tasks.sli.run`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from benchmark import SLI, Metric, Task
from benchmark.config import check_choice, check_number
from benchmark.errors import BenchError
from tasks.sampling import INITS
from tasks.sli.protocol import Protocol, apply_preset, protocol_defaults

_COMMON = {
    "preset": "published",
    "split": "test",
    "max_sketches": 500,
    "batch_size": 256,
    **protocol_defaults(),
    "pictures": 12,
    "animation_frames": 51,
}



def _speed(label: str) -> Metric:
    return Metric(True, "sketches inverted per second, all processes", "sketches/s", label=label, kind="speed")


class _SLITask(Task):
    requires = frozenset({SLI})
    requires_trained = True
    #: Records of different presets are different settings of the task (separate leaderboard columns).
    variant_keys = ("preset",)
    family = "SLI"
    question = "Which encoder inverts stroke locations best, and beats its random-weights control?"

    @classmethod
    def check_config(cls, config):
        apply_preset(config, cls.name)
        config.update(dataclasses.asdict(Protocol.from_config(config, cls.name)))
        config["batch_size"] = check_number(f"{cls.name}.batch_size", config["batch_size"], whole=True, least=1)
        for key in ("pictures", "animation_frames"):
            config[key] = check_number(f"{cls.name}.{key}", config[key], whole=True, least=0)
        config["max_sketches"] = check_number(f"{cls.name}.max_sketches", config["max_sketches"], whole=True, least=1,
                                              nullable=True, null_means="all")


class SLIRecovery(_SLITask):
    """Scramble every stroke's start location, then let the frozen classifier optimise the
    locations back toward the true class; measures how far the true layout is recovered.

    Its headline is the **layout preference skill** (:mod:`tasks.sli.local`): how much more than its
    random-weights control the SLI objective prefers the true layout to it moved by start noise (the
    SLI measure closest to holding on the validation ladder: order only, every pair of rungs
    separated but the two lowest, reliance 0.19 and 0.05, in one seed), with the preference and its
    control; then the **local fidelity** (does the SLI step point back from there) and the paper's
    protocol (``fidelity``, the scrambled start optimised for ``steps``), each with its control.
    Every column says its verdict on the graded validation ladder
    (``results/validation/VALIDATION.md``); the headline is the measure that holds there, if one
    does, else the one closest to holding. Version 4 added the local measures and the strokes
    recovered; version 5 the layout preference."""

    name = "sli_recovery"
    description = "Stroke location inversion: scrambled stroke start points optimised back toward the true class"
    version = "5"
    order = 10
    defaults = {**_COMMON, "init": "randn", "init_scale": 0.1, "local_sigmas": [0.05, 0.1, 0.2, 0.4],
                "preference_draws": 16}
    curves: ClassVar[dict[str, str]] = {"sli_target_probability": "sli_recovery: mean true-class probability per step",
                                        "sli_layout_preference": "sli_recovery: layout preference by start noise",
                                        "sli_local_fidelity": "sli_recovery: local fidelity by start noise"}
    curve_controls: ClassVar[dict[str, str]] = {"sli_local_fidelity": "random-weights control",
                                                "sli_layout_preference": "random-weights control"}
    metrics = {
        "preference_skill": Metric(True, "layout preference minus the random-weights control's (same sketches and "
                                         "moved layouts), per sketch: what the trained weights add to where the "
                                         "SLI objective points", "preference", label="layout preference skill",
                                   headline=True, field="preference_skill", format="signed", validation="order only"),
        "layout_preference": Metric(True, "layout preference: the true layout against it moved by centred start "
                                          "noise of each size in local_sigmas (preference_draws moved layouts "
                                          "each), +1 when the SLI objective (cross-entropy toward the true class) "
                                          "is lower at the true layout, -1 when higher, 0 when equal; mean over "
                                          "the draws, the noise sizes and the sketches with at least two strokes "
                                          "(1: the true layout always preferred, 0: no preference, as a "
                                          "classifier blind to layout)", "preference", label="layout preference",
                                    headline=True, field="layout_preference", format="signed",
                                    validation="order only"),
        "control_layout_preference": Metric(True, "layout preference of the random-weights control (same sketches "
                                                  "and moved layouts)", "preference",
                                            label="control layout preference", headline=True,
                                            field="control_layout_preference", format="signed",
                                            control_of="layout_preference"),
        "local_fidelity": Metric(True, "local inversion fidelity: from the true layout moved by start noise of "
                                       "each size in local_sigmas, the cosine between the classifier's SLI step "
                                       "(minus the gradient of the cross-entropy toward the true class) and the "
                                       "way back to the true layout, translation removed; mean over the noise "
                                       "sizes and the sketches with at least two strokes (1: straight back, 0: "
                                       "chance, as a classifier blind to layout)", "cosine",
                                 label="local fidelity", field="local_alignment", format="signed",
                                 validation="fails"),
        "control_local_fidelity": Metric(True, "local fidelity of the random-weights control (same sketches and "
                                               "noise draws)", "cosine", label="control local fidelity",
                                         field="control_local_alignment", format="signed",
                                         control_of="local_fidelity"),
        "local_skill": Metric(True, "local fidelity minus the random-weights control's, per sketch", "cosine",
                              label="local skill vs random", field="local_skill", format="signed",
                              validation="fails"),
        "local_fidelity_margin": Metric(True, "local fidelity with the logit-margin objective (the label's logit "
                                              "minus the best other class's) in place of the cross-entropy: the "
                                              "step without softmax saturation", "cosine",
                                        label="local fidelity (margin)", field="local_margin_alignment",
                                        format="signed", validation="order only"),
        "control_local_fidelity_margin": Metric(True, "local fidelity (margin objective) of the random-weights "
                                                      "control", "cosine", field="control_local_margin_alignment",
                                                format="signed", control_of="local_fidelity_margin"),
        "strokes_recovered": Metric(True, "fraction of a sketch's strokes whose start point ends within 0.05 "
                                          "(normalised units, translation removed) of the true one after the "
                                          "inversion; mean over sketches with at least two strokes", "fraction",
                                    label="strokes recovered", field="strokes_recovered", format="percent",
                                    validation=(("published", "order only"), ("bounded", "fails"))),
        "control_strokes_recovered": Metric(True, "strokes recovered by the random-weights control", "fraction",
                                            field="control_strokes_recovered", format="percent",
                                            control_of="strokes_recovered"),
        "fidelity": Metric(True, "1 - mean location error after / mean location error before, over the sketches "
                                 "with something to recover (1: layout fully recovered, 0: no closer than the "
                                 "scrambled start, < 0: further); a ratio of means: mean(location_error_reduction) "
                                 "/ mean(location_error_before)", "fraction", label="SLI fidelity", headline=True,
                           field=("location_error_reduction", "location_error_before"), aggregation="ratio_of_means",
                           validation=(("published", "fails"), ("bounded", "fails"))),
        "aligned_fidelity": Metric(True, "fidelity after the best similarity transform (rotation, scale, "
                                         "translation) of each layout onto the true one: is the arrangement "
                                         "recovered, whatever its size or orientation; sketches with fewer than "
                                         "three strokes excluded", "fraction", label="SLI aligned fidelity", field=("aligned_error_reduction", "aligned_error_before"),
                                   aggregation="ratio_of_means", validation=(("published", "fails"), ("bounded", "fails"))),
        "skill": Metric(True, "fidelity minus the random-weights control's fidelity (the same architecture at "
                              "random weights, inverted from the same starts toward the same classes): what the "
                              "trained weights add; a ratio of means over the same sketches", "fraction",
                        label="SLI skill vs random",
                        field=("skill_reduction", "location_error_before"), aggregation="ratio_of_means",
                        validation=(("published", "fails"), ("bounded", "fails"))),
        "control_fidelity": Metric(True, "fidelity of the random-weights control (model randomisation, Adebayo "
                                         "et al. 2018); the no-move control (the start itself) has fidelity 0 by "
                                         "construction", "fraction", label="control fidelity", headline=True,
                                   field=("control_location_error_reduction", "location_error_before"),
                                   aggregation="ratio_of_means", control_of="fidelity"),
        "aligned_skill": Metric(True, "aligned fidelity minus the random-weights control's", "fraction",
                                label="SLI aligned skill", field=("aligned_skill_reduction", "aligned_error_before"),
                                aggregation="ratio_of_means"),
        "control_aligned_fidelity": Metric(True, "aligned fidelity of the random-weights control", "fraction",
                                           field=("control_aligned_error_reduction", "aligned_error_before"),
                                           aggregation="ratio_of_means", control_of="aligned_fidelity"),
        "location_error_before": Metric(False, "mean distance of scrambled to true start points, global "
                                               "translation removed: the no-move control's error", "normalised units",
                                        field="location_error_before"),
        "location_error_after": Metric(False, "mean distance of recovered to true start points, global "
                                              "translation removed", "normalised units", field="location_error_after"),
        "chamfer_before": Metric(False, "symmetric Chamfer distance of the scrambled to the original drawing",
                                 "normalised units", field="chamfer_before"),
        "chamfer_after": Metric(False, "symmetric Chamfer distance of the recovered to the original drawing",
                                "normalised units", field="chamfer_after"),
        "control_location_error_after": Metric(False, "mean location error after the random-weights control's "
                                                      "inversion", "normalised units",
                                               field="control_location_error_after",
                                               control_of="location_error_after"),
        "accuracy_before": Metric(True, "top-1 accuracy on the scrambled sketches (the no-move control)", "fraction",
                                  field="correct_before", aggregation="proportion"),
        "accuracy_after": Metric(True, "top-1 accuracy on the recovered sketches", "fraction", label="acc. after SLI",
                                 field="correct_after", aggregation="proportion",
                                 validation=(("published", "fails"),)),
        "control_accuracy_after": Metric(True, "top-1 accuracy of the random-weights control after its inversion",
                                         "fraction", field="control_correct_after", aggregation="proportion",
                                         control_of="accuracy_after"),
        "p_true_before": Metric(True, "mean true-class probability on the scrambled sketches", "probability",
                                field="p_true_before"),
        "p_true_after": Metric(True, "mean true-class probability on the recovered sketches", "probability",
                               field="p_true_after"),
        "steps_to_correct": Metric(False, "mean step of the first correct prediction, over sketches that got "
                                          "one (0: correct from the start)", "steps", field="steps_to_correct"),
        "sketches_per_s": _speed("SLI recovery speed"),
    }

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        check_choice(f"{cls.name}.init", config["init"], INITS)
        check_number(f"{cls.name}.init_scale", config["init_scale"], least=0)
        sigmas = config["local_sigmas"]
        if not isinstance(sigmas, (list, tuple)) or not sigmas:
            raise BenchError(f"{cls.name}.local_sigmas={sigmas!r}: give a non-empty list of start-noise sizes, "
                             f"e.g. [0.05,0.1,0.2,0.4]")
        config["local_sigmas"] = [float(check_number(f"{cls.name}.local_sigmas", s, above=0)) for s in sigmas]
        config["preference_draws"] = check_number(f"{cls.name}.preference_draws", config["preference_draws"],
                                                  whole=True, least=1)

    def run(self, ctx):
        from tasks.sli.run import run_recovery

        return run_recovery(ctx)


class SLITransfer(_SLITask):
    """Start from the true locations and optimise them toward another class (a seeded random
    other class per sketch, or ``target=CATEGORY``); measures how easily the layout alone flips
    the prediction."""

    name = "sli_transfer"
    description = "Stroke location inversion: true stroke start points optimised toward another class"
    version = "2"
    order = 20
    defaults = {**_COMMON, "target": None}
    curves: ClassVar[dict[str, str]] = {"sli_target_probability": "sli_transfer: mean target-class probability per step"}
    metrics = {
        "success_rate": Metric(True, "fraction of sketches predicted as the target class at the end", "fraction",
                               label="SLI transfer", headline=True, field="success", aggregation="proportion",
                               same=("target",)),
        "success_on_canvas": Metric(True, "fraction of sketches predicted as the target class at the end with every "
                                          "point of the moved drawing still on the canvas ([-1, 1])", "fraction",
                                    label="transfer on canvas", headline=True, field="success_on_canvas",
                                    aggregation="proportion", same=("target",)),
        "skill": Metric(True, "success rate minus the random-weights control's (the same architecture at random "
                              "weights, from the same layouts toward the same targets)", "fraction",
                        label="transfer skill vs random", headline=True, field="transfer_skill", same=("target",)),
        "control_success_rate": Metric(True, "success rate of the random-weights control", "fraction",
                                       label="control transfer", headline=True, field="control_success",
                                       aggregation="proportion", same=("target",), control_of="success_rate"),
        "success_at_start": Metric(False, "fraction already predicted as the target before any step (the no-move "
                                          "control)", "fraction", field="success_at_start", aggregation="proportion",
                                   same=("target",)),
        "steps_to_flip": Metric(False, "mean step of the first target prediction, over sketches that reached "
                                       "it", "steps", field="steps_to_flip", same=("target",)),
        "displacement": Metric(False, "mean start-point displacement at the first target prediction, over "
                                      "sketches that reached it", "normalised units", field="displacement",
                               same=("target",)),
        "p_original_drop": Metric(True, "mean drop of the original class's probability", "probability",
                                  field="p_original_drop", same=("target",), format="signed"),
        "p_target_after": Metric(True, "mean target-class probability at the end", "probability",
                                 field="p_target_after", same=("target",)),
        "sketches_per_s": _speed("SLI transfer speed"),
    }

    def run(self, ctx):
        from tasks.sli.run import run_transfer

        return run_transfer(ctx)


TASKS = (SLIRecovery, SLITransfer)
#: ``bench perf`` targets of the family: (name, module with ``main(argv)``, what it measures).
PERF_TARGETS = (
    ("sli", "tasks.sli.perf.batched", "batched SLI vs the published one-sketch-at-a-time loop"),
    ("controls", "tasks.sli.perf.controls", "SLI with its random-weights control and the bounded preset vs alone"),
)
