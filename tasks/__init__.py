"""Built-in tasks, registered through the same hooks as third-party plugins; the recognition task
is the built-in classifier provider of tasks that need a trained classifier (SLI, attribution).
The built-in explainers (:mod:`tasks.explainers`) are registered here too."""

from benchmark import hookimpl

#: The task that trains classifiers on other tasks' behalf (hook ``bench_classifier_provider``).
CLASSIFIER_TASK = "recognition"


@hookimpl
def bench_register_tasks(register):
    from tasks.attribution import TASKS as attribution_tasks
    from tasks.recognition import Recognition
    from tasks.reliance import LocationReliance
    from tasks.sli import TASKS as sli_tasks

    for cls in (Recognition, LocationReliance, *sli_tasks, *attribution_tasks):
        register(cls)


@hookimpl
def bench_register_explainers(register):
    from tasks.explainers import EXPLAINERS

    for cls in EXPLAINERS:
        register(cls)


@hookimpl
def bench_classifier_provider(encoder, dataset):
    return CLASSIFIER_TASK


#: What ``bench run`` alone runs on the default encoder and data (then it writes the report): an XAI task
#: joins the demo benchmark by being named here. The recognition run trains the classifier the others use.
BENCHMARK_TASKS = [CLASSIFIER_TASK, "location_reliance", "sli_recovery", "sli_transfer"]
#: Settings of that run: 100 sketches per SLI task (each also inverted by its random-weights control) keep
#: each under ~40 s on 2 cores (the CIs say how wide).
BENCHMARK_SETTINGS = ["sli_recovery.max_sketches=100", "sli_transfer.max_sketches=100"]


@hookimpl
def bench_run_defaults():
    return {"tasks": [CLASSIFIER_TASK], "encoders": ["stroke_vit_tiny"], "data": "demo",
            "benchmark": {"tasks": BENCHMARK_TASKS, "set": BENCHMARK_SETTINGS}}


@hookimpl
def bench_register_perf_targets(register):
    register("sli", "tasks.perf_sli", "batched SLI vs the published one-sketch-at-a-time loop")
    register("controls", "tasks.perf_controls", "SLI with its random-weights control and the bounded preset vs alone")
    register("attribution", "tasks.perf_attribution",
             "occlusion of 500 demo sketches batched vs one removal at a time; exact Shapley cost vs stroke count")
