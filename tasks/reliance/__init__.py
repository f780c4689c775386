"""The reliance family: ``location_reliance``, how much a frozen classifier's decisions depend on
where the strokes are. Here the task (settings, metrics; light module); the torch code is in
:mod:`tasks.reliance.run`; the scrambled layouts come from :func:`tasks.sampling.start_locations`.

Each test sketch is classified three ways with the same strokes: at its true layout, with every
stroke's start point *scrambled* (``randn * init_scale``, the published SLI start, averaged over
``draws`` independent draws; draw 0 is exactly the start ``sli_recovery`` uses with the same seed),
and with the start points *shuffled* among the sketch's strokes (a random permutation per draw).
Reliance is the accuracy lost: ``mean(correct_true - correct_scrambled)``, per sketch, with a
bootstrap CI; a classifier that ignores locations (the ``stroke_vit_no_location`` ablation) scores
exactly 0, so SLI on it measures nothing. Each record also carries, in ``extra.tests``, the paired
permutation test of true vs scrambled (the sketches are their own controls).
"""

from __future__ import annotations

from benchmark import Metric, Task
from benchmark.config import check_number

_TESTED = "paired permutation test (10,000 sketch-wise swaps) of true vs moved layout"


class LocationReliance(Task):
    """Accuracy and true-class probability on the true layout vs scrambled or shuffled start points."""

    name = "location_reliance"
    description = "How much a classifier relies on stroke locations: accuracy lost when start points are moved"
    version = "1"
    requires_trained = True
    order = 5
    family = "location reliance"
    question = "Which encoder relies on the strokes' layout (accuracy lost when their start points move)?"
    defaults = {"split": "test", "max_sketches": None, "batch_size": 200, "draws": 4, "init_scale": 0.1}
    metrics = {
        "reliance": Metric(True, "top-1 accuracy lost when every stroke's start point is scrambled (randn * "
                                 "init_scale, the published SLI start), mean over draws; 0: locations are "
                                 "ignored. " + _TESTED + " in extra.tests", "fraction", label="location reliance",
                           headline=True, field="accuracy_drop_scrambled"),
        "reliance_shuffle": Metric(True, "top-1 accuracy lost when the start points are shuffled among the "
                                         "sketch's strokes, mean over draws", "fraction",
                                   label="reliance (shuffle)", headline=True, field="accuracy_drop_shuffled"),
        "p_true_drop": Metric(True, "true-class probability lost when the start points are scrambled",
                              "probability", label="p(true) lost, scrambled", field="p_true_drop_scrambled",
                              format="signed"),
        "p_true_drop_shuffle": Metric(True, "true-class probability lost when the start points are shuffled",
                                      "probability", field="p_true_drop_shuffled", format="signed"),
        "top1_true": Metric(True, "top-1 accuracy at the true layout", "fraction", field="correct_true",
                            aggregation="proportion"),
        "top1_scrambled": Metric(True, "top-1 accuracy with scrambled start points (mean over draws)", "fraction",
                                 field="correct_scrambled", format="percent"),
        "top1_shuffled": Metric(True, "top-1 accuracy with shuffled start points (mean over draws)", "fraction",
                                field="correct_shuffled", format="percent"),
    }

    @classmethod
    def check_config(cls, config):
        for key in ("batch_size", "draws"):
            config[key] = check_number(f"{cls.name}.{key}", config[key], whole=True, least=1)
        config["max_sketches"] = check_number(f"{cls.name}.max_sketches", config["max_sketches"], whole=True,
                                              least=1, nullable=True, null_means="all")
        check_number(f"{cls.name}.init_scale", config["init_scale"], above=0)

    def run(self, ctx):
        from tasks.reliance.run import run_reliance

        return run_reliance(ctx)


TASKS = (LocationReliance,)
PERF_TARGETS = ()
