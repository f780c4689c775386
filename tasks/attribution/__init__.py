"""The attribution family: which strokes a frozen classifier relies on.

Where each part lives (this module is light: no torch): here the three tasks (settings, metric
declarations) and the family's perf target; :mod:`tasks.attribution.run` the torch code of a run
(scores, deletion curves, pointing, randomisation); :mod:`tasks.attribution.explainers` the
explainers, one module per method under one base; :mod:`tasks.attribution.pictures` thumbnails
and curves; :mod:`tasks.attribution.perf` ``bench perf attribution``.

Each run scores one explainer (task setting ``explainer``, or ``bench run --explainer NAME``,
repeatable; the ``random`` control always runs too) on one trained classifier (``--checkpoint`` or
the provider's, as the SLI tasks), on a seeded sample of the split; the explained class is each
sketch's label. Leaderboard rows are (encoder, explainer): ``row_keys = ("explainer",)``. Every
run also reports the explained classifier's accuracy on the explained sketches
(``classifier_accuracy``); a run whose CI contains chance is flagged and not ranked.

- ``stroke_deletion``: strokes removed (:func:`benchmark.removal.remove_strokes`) most-important
  first (MoRF) and least-important first (LeRF); target probability after each removal, from the
  whole sketch to the empty one; area under each curve by the trapezoid rule over ``x`` = fraction
  of strokes removed, both end points included. Headline: LeRF area - MoRF area (0 for an
  uninformative order), and the same minus the random control's on the same sketch.
- ``stroke_pointing``: per sketch, the AUROC of the scores separating evidence from distractor
  strokes (ties count 1/2; 0.5 = chance), the top stroke being evidence, and the AUROC minus the
  random control's on the same sketch. The distractors are strokes of other sketches of the split,
  where they sit in their own drawing (:mod:`benchmark.data.distractors`): stored by
  ``demo_distractors``, built at run time (``distractors`` per sketch, seeded) for any other data.
  Every control explainer (``random``, ``stroke_length``, ``point_count``, ``drawing_order``,
  ``centre_distance``: model-blind) is scored on the same sketches; the set is valid only when each
  one's AUROC CI contains 0.5 or lies within [0.4, 0.6], else the record says "pointing set
  invalid" and is not ranked (``extra.pointing_set``, ``extra.unranked``). The record's curve
  ``pointing_roc`` (since v3) is the ROC of the same per-sketch scores: each sketch's own ROC
  (evidence strokes positive, distractors negative, ties diagonal), its true positive rate averaged
  over the sketches at 21 false positive rates (vertical averaging, not pooled: scores of different
  sketches are not on one scale), with 95% bootstrap bands; its area is about the mean AUROC.
- ``sanity_randomisation`` (Adebayo et al. 2018): the classifier's layers
  (``EncoderModule.randomisation_layers``) re-initialised from the output down, one more per
  step; per sketch the Spearman correlation of the trained model's stroke scores with the
  randomised model's after each step. The explainer passes when the upper 95% bound of the mean
  correlation at full randomisation is below ``pass_below``; model-independent scores (the random
  control) fail by construction.
"""

from __future__ import annotations

from typing import ClassVar

from benchmark import Metric, Task
from benchmark.config import check_number

_COMMON = {"split": "test", "max_sketches": 300, "batch_size": 64, "explainer": "occlusion",
           "explainer_config": {}, "thumbnails": 6}


class _AttributionTask(Task):
    requires_trained = True
    row_keys = ("explainer",)

    @classmethod
    def check_config(cls, config):
        config["batch_size"] = check_number(f"{cls.name}.batch_size", config["batch_size"], whole=True, least=1)
        config["thumbnails"] = check_number(f"{cls.name}.thumbnails", config["thumbnails"], whole=True, least=0,
                                            most=7)
        config["max_sketches"] = check_number(f"{cls.name}.max_sketches", config["max_sketches"], whole=True,
                                              least=1, nullable=True, null_means="all")


def _accuracy(headline: bool = False) -> Metric:
    return Metric(True, "top-1 accuracy of the explained classifier on the explained sketches (a run whose CI "
                        "contains chance is not ranked)", "fraction", label="classifier top-1", field="correct",
                  aggregation="proportion", headline=headline)


def _speed(label: str) -> Metric:
    return Metric(True, "sketches explained and scored per second, all processes", "sketches/s", label=label,
                  kind="speed")


class StrokeDeletion(_AttributionTask):
    """Deletion faithfulness: remove strokes in the explainer's order (MoRF and LeRF)."""

    name = "stroke_deletion"
    family = "stroke deletion"
    question = "Which explainer orders strokes faithfully (removing its top strokes first hurts the class most)?"
    description = "Stroke deletion: target probability as strokes are removed most/least important first"
    version = "2"
    order = 30
    defaults = dict(_COMMON)
    curves: ClassVar[dict[str, str]] = {"deletion_morf": "Stroke deletion, most important first",
              "deletion_lerf": "Stroke deletion, least important first"}
    metrics = {
        "deletion_gap": Metric(True, "area under the LeRF curve - area under the MoRF curve (x: fraction of "
                                     "strokes removed, trapezoid, both end points)", "probability",
                               label="deletion gap", headline=True, field="gap", format="signed"),
        "gap_vs_random": Metric(True, "deletion gap minus the random control's on the same sketch", "probability",
                                label="gap − random", headline=True, field="gap_vs_random", format="signed",
                                test=None),  # its CI is the paired test against the control; between rows it repeats the gap's
        "morf_area": Metric(False, "area under the most-important-first deletion curve", "probability",
                            label="MoRF area", field="morf_area"),
        "lerf_area": Metric(True, "area under the least-important-first deletion curve", "probability",
                            label="LeRF area", field="lerf_area"),
        "p_full": Metric(True, "mean target probability of the whole sketch", "probability", field="p_full"),
        "classifier_accuracy": _accuracy(),
        "sketches_per_s": _speed("deletion speed"),
    }

    def run(self, ctx):
        from tasks.attribution.run import run_deletion

        return run_deletion(ctx)


class StrokePointing(_AttributionTask):
    """Ground-truth pointing: do the scores put evidence strokes above distractor strokes?"""

    name = "stroke_pointing"
    family = "stroke pointing"
    question = "Which explainer puts the evidence strokes above the distractors?"
    description = "Stroke pointing: AUROC of stroke scores for evidence vs distractor strokes"
    version = "3"  # 3: records the ROC curve (extra.curves.pointing_roc); the scores are v2's
    order = 31
    defaults = {**_COMMON, "distractors": 3}
    curves: ClassVar[dict[str, str]] = {"pointing_roc": "Stroke pointing ROC: evidence vs distractor strokes"}
    metrics = {
        "pointing_auroc": Metric(True, "per-sketch AUROC of the stroke scores separating evidence from distractor "
                                       "strokes (ties 1/2; 0.5 = chance), mean over sketches", "AUROC",
                                 label="pointing AUROC", headline=True, field="auroc"),
        "auroc_vs_random": Metric(True, "pointing AUROC minus the random control's on the same sketch", "AUROC",
                                  label="AUROC − random", headline=True, field="auroc_vs_random", format="signed",
                                  test=None),  # as gap_vs_random
        "top_is_evidence": Metric(True, "fraction of sketches whose top-scored stroke is evidence", "fraction",
                                  label="top stroke evidence", headline=True, field="top_is_evidence",
                                  aggregation="proportion"),
        "classifier_accuracy": _accuracy(headline=True),
        "sketches_per_s": _speed("pointing speed"),
    }

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        config["distractors"] = check_number(f"{cls.name}.distractors", config["distractors"], whole=True, least=1,
                                             most=20)

    def run(self, ctx):
        from tasks.attribution.run import run_pointing

        return run_pointing(ctx)


class SanityRandomisation(_AttributionTask):
    """Cascading model-parameter randomisation: do the scores depend on the learned weights?"""

    name = "sanity_randomisation"
    family = "sanity check"
    question = "Do the explainer's scores depend on the trained weights (cascading randomisation)?"
    description = "Sanity check: Spearman of stroke scores, trained vs cascading-randomised classifier"
    version = "2"
    order = 32
    defaults = {**_COMMON, "max_sketches": 100, "pass_below": 0.5}
    curves: ClassVar[dict[str, str]] = {"sanity_spearman": "Cascading randomisation"}
    metrics = {
        "spearman_full": Metric(False, "mean per-sketch Spearman correlation of the stroke scores of the trained "
                                       "and the fully randomised classifier (sketches of 2+ strokes, scores not "
                                       "constant)", "Spearman",
                                label="Spearman, randomised", headline=True, field="spearman_full"),
        "passed": Metric(True, "1 when the upper 95% bound of spearman_full is below pass_below (the scores "
                               "depend on the weights), else 0", "pass", label="sanity passed", headline=True,
                       format="flag"),
        "classifier_accuracy": _accuracy(),
        "sketches_per_s": _speed("sanity speed"),
    }

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        config["pass_below"] = check_number(f"{cls.name}.pass_below", config["pass_below"], least=-1, most=1)

    def run(self, ctx):
        from tasks.attribution.run import run_sanity

        return run_sanity(ctx)


TASKS = (StrokeDeletion, StrokePointing, SanityRandomisation)
#: ``bench perf`` targets of the family: (name, module with ``main(argv)``, what it measures).
PERF_TARGETS = (
    ("attribution", "tasks.attribution.perf",
     "occlusion of 500 demo sketches batched vs one removal at a time; exact Shapley cost vs stroke count"),
)
