"""Checks that turn silent failures into one-line errors, and the bookkeeping of failed runs.

- :func:`check_logits`: an encoder's logits must be ``(batch, num_classes)``, checked on the first
  batch (not after a whole epoch, deep in numpy);
- :func:`check_loss`: a non-finite training loss stops the run, naming the step;
- :func:`check_location_gradient`: an encoder declaring ``sli`` must give logits that depend on
  ``batch.locations``, checked before anything is trained;
- :func:`marks_failed_runs`: a run that fails leaves ``runs/<id>/failed.json`` (the error) and no
  record, checkpoint, resumable state or ``in_progress.json``; an interrupted run (Ctrl-C, a kill)
  keeps its state and stays resumable, and a refused ``--resume`` keeps its folder as it was;
- :func:`guard_peers`: under ``torchrun``, a peer that vanishes is a one-line error.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import time
from pathlib import Path

from benchmark.errors import BenchError, ResumeRefused

FAILED = "failed.json"


def _encoder_label(ctx) -> str:
    try:
        plugin = ctx.manager.entry("encoder", ctx.spec.encoder).plugin
    except Exception:  # noqa: BLE001 - only used in a message
        plugin = "?"
    return f"encoder {ctx.spec.encoder!r} (plugin {plugin!r})"


def check_logits(ctx, logits, batch, num_classes: int) -> None:
    """Raise unless ``logits`` is ``(batch.size, num_classes)``."""
    shape = tuple(getattr(logits, "shape", ()))
    if shape != (batch.size, num_classes):
        raise BenchError(f"{_encoder_label(ctx)} returned logits of shape {list(shape)} for a batch of "
                         f"{batch.size} sketches and {num_classes} classes; its forward must return "
                         f"(batch, num_classes) = ({batch.size}, {num_classes})")


#: A mean cross-entropy above this (logit margins of thousands) means training diverged.
MAX_LOSS = 1e4


def check_loss(value: float, epoch: int, step: int, lr: float, setting: str = "task.lr") -> None:
    """Raise when the mean training loss is NaN, infinite or diverged (the weights would be garbage);
    ``setting`` names the learning-rate setting to lower (e.g. ``recognition.lr``)."""
    if not math.isfinite(value) or value > MAX_LOSS:
        what = f"became {value}" if not math.isfinite(value) else f"diverged to {value:.3g}"
        raise BenchError(f"training loss {what} at epoch {epoch + 1}, step {step + 1} (lr {lr:.3g}); "
                         f"the run was stopped and no record or checkpoint was kept: lower {setting} "
                         f"(e.g. --set {setting}=1e-4) or check the data for extreme coordinates")


def check_location_gradient(ctx, task_cls) -> None:
    """For a task that needs ``sli``: the logits of a freshly built encoder (``ctx.random_encoder``,
    stream 0) must be differentiable in ``batch.locations`` (checked on a few training sketches, their start points nudged by
    ``0.05 * randn``, before any training)."""
    from benchmark.contracts import SLI

    if SLI not in getattr(task_cls, "requires", ()):
        return
    import numpy as np
    import torch

    split_name = "train" if "train" in ctx.data.splits else next(iter(ctx.data.splits))
    split = ctx.data.split(split_name)
    n = min(len(split), 4)
    if n == 0:
        return
    module = ctx.random_encoder(stream=0)
    batch = ctx.make_batch(split, np.arange(n)).to(ctx.device)
    # a little off the drawn layout: a classifier may peak exactly there, with a zero gradient
    nudge = 0.05 * torch.randn(batch.locations.shape, generator=torch.Generator().manual_seed(1))
    locations = torch.where(batch.stroke_mask.unsqueeze(-1), batch.locations + nudge.to(batch.locations.device), 0)
    locations = locations.detach().requires_grad_(True)
    label = _encoder_label(ctx)
    try:  # as the inversion calls it
        forward_sli = getattr(module, "forward_sli", None)
        if forward_sli is not None and hasattr(module, "prepare_sli"):
            logits = forward_sli(module.prepare_sli(batch), locations)
        else:
            logits = module(batch.replace(locations=locations))
    except Exception as exc:  # noqa: BLE001
        raise BenchError(f"{label} failed on a first batch: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    check_logits(ctx, logits, batch, len(ctx.data.categories))
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(0)).to(logits.device)
    grad = None
    if logits.requires_grad:
        (grad,) = torch.autograd.grad((logits.float() * weights).sum(), locations, allow_unused=True)
    if grad is None or not bool(torch.isfinite(grad).all()) or not bool(grad.abs().sum() > 0):
        raise BenchError(f"{label} declares capability 'sli' but its logits do not depend on batch.locations "
                         f"(no gradient reaches them); task {ctx.spec.task!r} cannot invert it: make the "
                         "forward use batch.locations differentiably, or drop 'sli' from its capabilities")


def mark_failed(run_dir: Path, error: BaseException) -> None:
    """Leave only ``failed.json`` (the error) in ``run_dir``: no checkpoint, state or partial output."""
    if not run_dir.is_dir():
        return
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    for child in run_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    from benchmark.records import atomic_write_text

    try:
        atomic_write_text(run_dir / FAILED, json.dumps(
            {"status": "failed", "error": f"{type(error).__name__}: {message}", "time": time.time()}))
    except OSError:  # disk full: the folder is at least empty and not resumable
        pass


def marks_failed_runs(execute):
    """Decorate ``benchmark.run.execute.execute(spec, info, ...)``: an exception (not Ctrl-C or a kill, which keep
    the run resumable, nor :class:`~benchmark.errors.ResumeRefused`, which keeps its folder as it was) marks the
    run failed on rank 0 before it propagates."""

    @functools.wraps(execute)
    def wrapper(spec, info, *args, **kwargs):
        try:
            return execute(spec, info, *args, **kwargs)
        except Exception as exc:
            # a lost peer is an interruption: resumable; a refused resume changed nothing
            if info.is_main and not is_peer_loss(exc) and not isinstance(exc, ResumeRefused):
                mark_failed(Path(spec.results) / "runs" / spec.run_id, exc)
            raise

    return wrapper


def is_peer_loss(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another process went away."""
    if isinstance(exc, BenchError):
        return False
    try:
        import torch.distributed as dist

        if isinstance(exc, getattr(dist, "DistError", ())):
            return True
    except ImportError:  # pragma: no cover
        pass
    text = f"{type(exc).__name__}: {exc}"
    return isinstance(exc, RuntimeError) and any(
        w in text for w in ("Connection reset", "Connection closed", "connection closed", "Broken pipe",
                            "Gloo", "gloo", "NCCL", "timed out", "Socket Timeout", "peer"))


def mark_failed_specs(specs, error: str) -> None:
    """After a local multi-process run failed: mark each of ``specs`` that was started and has no
    record as failed (the parent does it: the workers may have been stopped before they could)."""
    for spec in specs:
        runs = Path(spec.results) / "runs"
        run_dir = runs / spec.run_id
        if (run_dir / "in_progress.json").is_file() and not (runs / f"{spec.run_id}.json").exists():
            mark_failed(run_dir, RuntimeError(error))


def guard_peers(call):
    """Run ``call()`` under torchrun; a lost peer (its node killed, the network gone) becomes a
    one-line :class:`BenchError` instead of a traceback."""
    try:
        return call()
    except BenchError:
        raise
    except Exception as exc:  # torch.distributed.DistError, RuntimeError from gloo
        if not is_peer_loss(exc):
            raise
        first = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:240]
        raise BenchError(f"lost contact with another process of the torchrun group ({first}); "
                         "a node or worker stopped: no record was written for the unfinished run; "
                         "restart all nodes (add --resume to continue)") from None
