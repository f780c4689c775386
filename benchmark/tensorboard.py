"""TensorBoard event files of every run: switched on by ``bench run --tensorboard DIR`` (or
``BENCH_TENSORBOARD=DIR``), needs the ``[tensorboard]`` extra.

Rank 0 writes ``DIR/<run id>/events.out.tfevents.*``: every metric a task logs
(``ctx.log_metrics``: recognition's ``train_loss``, ``valid_top1``, ``lr`` per epoch) as a scalar
``<task>/<name>`` at its step, the run's configuration as text ``config``, and at the end every
recorded metric value as ``<task>/final/<metric>``. Read them with ``tensorboard --logdir DIR``.
Off (no import, no files) when the switch is unset.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from benchmark import hookimpl
from benchmark.errors import BenchError

SWITCH = "BENCH_TENSORBOARD"
_writers: dict[str, object] = {}


def log_dir() -> Path | None:
    """The folder of the event files, or ``None`` when TensorBoard logging is off."""
    value = os.environ.get(SWITCH, "").strip()
    return Path(value) if value else None


def require() -> None:
    """A one-line error when the switch is on and TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:
        raise BenchError(f"--tensorboard / {SWITCH} needs TensorBoard ({exc}); install it with "
                         "pip install -e '.[tensorboard]'") from None


def _writer(run):
    if run.rank != 0 or log_dir() is None:
        return None
    if run.run_id not in _writers:
        require()
        from torch.utils.tensorboard import SummaryWriter

        _writers[run.run_id] = SummaryWriter(log_dir=str(log_dir() / run.run_id))
    return _writers[run.run_id]


def _scalars(writer, prefix: str, metrics: dict, step: int) -> None:
    for name, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            writer.add_scalar(f"{prefix}/{name}", float(value), step)


@hookimpl
def bench_run_started(run):
    writer = _writer(run)
    if writer is not None:
        writer.add_text("config", "```\n" + json.dumps(run.config, indent=2, sort_keys=True, default=str) + "\n```")
        writer.flush()


@hookimpl
def bench_log_metrics(run, step, metrics):
    writer = _writer(run)
    if writer is not None:
        _scalars(writer, run.task, metrics, step)
        writer.flush()


@hookimpl
def bench_run_finished(run, record):
    writer = _writer(run)
    if writer is None:
        return
    final = {name: m.get("value") for name, m in record["metrics"].items()}
    _scalars(writer, f"{run.task}/final", {k: v for k, v in final.items() if v is not None}, 0)
    writer.close()
    _writers.pop(run.run_id, None)
