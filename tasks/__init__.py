"""Built-in tasks, registered through the same hooks as third-party plugins; the recognition task
is the built-in classifier provider of tasks that need a trained classifier (SLI, attribution).
The built-in explainers (:mod:`tasks.attribution.explainers`) are registered here too."""

from benchmark import hookimpl

#: The task that trains classifiers on other tasks' behalf (hook ``bench_classifier_provider``).
CLASSIFIER_TASK = "recognition"


#: The family packages, in the order their tasks and perf targets are listed.
FAMILIES = ("tasks.recognition", "tasks.reliance", "tasks.sli", "tasks.attribution")


def _families():
    import importlib

    return [importlib.import_module(name) for name in FAMILIES]


@hookimpl
def bench_register_tasks(register):
    for family in _families():
        for cls in family.TASKS:
            register(cls)


@hookimpl
def bench_register_explainers(register):
    from tasks.attribution.explainers import EXPLAINERS

    for cls in EXPLAINERS:
        register(cls)


@hookimpl
def bench_classifier_provider(encoder, dataset):
    return CLASSIFIER_TASK


#: The whole benchmark: what ``bench run`` without ``--task`` runs on the default (or named) encoders and
#: data, then it writes the report. An XAI task joins it by being named here. The recognition run trains
#: the classifier the others use; a task an encoder cannot take is listed as skipped, with the reason.
BENCHMARK_TASKS = [CLASSIFIER_TASK, "location_reliance", "sli_recovery", "sli_transfer", "stroke_deletion",
                   "stroke_pointing", "sanity_randomisation"]
#: Settings of that run: 100 sketches per SLI and attribution task (each SLI sketch also inverted by its
#: random-weights control, each attribution run beside its controls) keep each under ~40 s on 2 cores
#: (the CIs say how wide); the randomisation check, 17 layers deep for stroke_vit_tiny, on 50.
BENCHMARK_SETTINGS = ["sli_recovery.max_sketches=100", "sli_transfer.max_sketches=100",
                      "stroke_deletion.max_sketches=100", "stroke_pointing.max_sketches=100",
                      "sanity_randomisation.max_sketches=50"]
#: The reference explainers of the benchmark's attribution tasks (``bench run --explainer NAME`` runs
#: NAME beside them and the controls).
BENCHMARK_EXPLAINERS = ["occlusion"]


@hookimpl
def bench_run_defaults():
    return {"tasks": [CLASSIFIER_TASK], "encoders": ["stroke_vit_tiny"], "data": "demo",
            "benchmark": {"tasks": BENCHMARK_TASKS, "set": BENCHMARK_SETTINGS, "explainers": BENCHMARK_EXPLAINERS}}


@hookimpl
def bench_register_perf_targets(register):
    for family in _families():
        for name, module, description in family.PERF_TARGETS:
            register(name, module, description)
