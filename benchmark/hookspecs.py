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
    :param step: int, monotonically increasing within a run.
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
