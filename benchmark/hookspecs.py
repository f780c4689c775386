"""Every hook of sketchxai-bench, in one module.

Each hook is an empty function whose docstring is its contract. Plugins implement them with
``@benchmark.hookimpl``; the plugin manager is built in :mod:`benchmark.plugins`.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "sketchxai_bench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def bench_register_encoders(register):
    """Register encoder classes.

    :param register: call ``register(cls)`` once per class; ``cls`` subclasses
        :class:`benchmark.Encoder` and carries its own ``name``. Registering two classes under one
        name (in one plugin or across plugins) fails at start-up naming both plugins.
    :return: nothing (ignored).
    """


@hookspec
def bench_register_tasks(register):
    """Register task classes.

    :param register: call ``register(cls)`` once per class; ``cls`` subclasses
        :class:`benchmark.Task` and carries its own ``name``, ``version`` and ``metrics``.
    :return: nothing (ignored).
    """


@hookspec
def bench_register_datasets(register):
    """Register dataset classes.

    :param register: call ``register(cls)`` once per class; ``cls`` subclasses
        :class:`benchmark.Dataset` and carries its own ``name``.
    :return: nothing (ignored).
    """


@hookspec
def bench_register_explainers(register):
    """Register explainer classes (``bench list explainers``).

    :param register: call ``register(cls)`` once per class; ``cls`` subclasses
        :class:`benchmark.Explainer` and carries its own ``name`` and ``requires`` (the encoder
        capabilities it needs). Names are unique across plugins, as for encoders.
    :return: nothing (ignored).
    """


@hookspec
def bench_run_started(run):
    """Called on every rank once a run's configuration is resolved, before the task runs.

    :param run: a :class:`benchmark.RunInfo` (run id, task, encoder, dataset, resolved config, seed,
        rank, world size). Read-only by convention.
    :return: nothing (ignored). Not firstresult: every implementation is called.
    """


@hookspec
def bench_log_metrics(run, step, metrics):
    """Called on rank 0 whenever a task logs intermediate metrics (a training epoch, an SLI step).

    :param run: the :class:`benchmark.RunInfo` given to ``bench_run_started``.
    :param step: int, monotonically increasing within a run, counting from 1 (a training run's step
        is its epoch, numbered as the progress lines number it).
    :param metrics: ``dict[str, float]`` of what was measured at ``step``.
    :return: nothing (ignored).
    """


@hookspec
def bench_run_finished(run, record):
    """Called on rank 0 after the run record was written (atomically) to disk.

    :param run: the :class:`benchmark.RunInfo` of the run.
    :param record: the run record as a ``dict`` (schema in :mod:`benchmark.records`).
    :return: nothing (ignored).
    """


@hookspec(firstresult=True)
def bench_classifier_provider(encoder, dataset):
    """Name the task that trains a classifier for tasks with ``requires_trained`` (e.g. SLI).

    Asked when a run needs a trained classifier and none was given with ``--checkpoint``. The
    runner then uses the newest record of that task for the same encoder, encoder config and data
    that has a ``checkpoint`` artifact (a folder of :mod:`benchmark.checkpoints`), or plans and runs
    that task first, with its own defaults plus only the settings that name it
    (``--set NAME.key=value``). The built-in provider is the recognition plugin; a plugin with
    another training recipe overrides it with ``@hookimpl(tryfirst=True)``.

    :param encoder: the encoder name of the run.
    :param dataset: the ``--data`` value of the run (a dataset name or a file path).
    :return: a registered task name, or ``None`` to let the next implementation answer.
    """


@hookspec(firstresult=True)
def bench_run_defaults():
    """What ``bench run`` runs when the command names no task, encoder or data.

    :return: ``{"tasks": [str], "encoders": [str], "data": str, "benchmark": {"tasks": [str],
        "set": [str], "explainers": [str]}}`` (any key may be missing), or ``None`` to let the next
        implementation answer. ``tasks``, ``encoders`` and ``data`` fill in what a command leaves
        out. ``benchmark`` is the whole benchmark that ``bench run`` without ``--task`` runs on the
        named (else default) encoders and data: its ``tasks`` (in place of ``tasks``; a task an
        encoder lacks the capabilities for is listed as skipped, with the reason) with its ``set``
        settings (``KEY=VALUE`` as ``--set``, applied before the command's own), after which the
        command writes the HTML report of the results folder and prints the leaderboard. With
        ``--explainer NAME`` and no ``--task`` it runs those of its tasks that take an explainer,
        for NAME beside its ``explainers`` (the reference explainers) and the controls. The
        built-in tasks plugin provides it.
    """


@hookspec
def bench_register_perf_targets(register):
    """Register ``bench perf`` targets (throughput figures measured side by side).

    :param register: call ``register(name, module, description)``: ``module`` is an importable
        module name with ``main(argv) -> int`` (imported only when the target runs) that prints
        its figures as a table, or as one JSON value when ``argv`` holds ``--json``
        (``bench perf --json`` gathers them into one object).
    :return: nothing (ignored).
    """
