"""The SLI optimisation protocol: settings and their checks (light: no torch)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from benchmark.errors import BenchError

OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("float32", "bfloat16")
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Protocol:
    """How start locations are optimised (defaults: the published protocol).

    ``max_step``: the gradient norm is clipped at ``max_step / lr``, so one plain SGD step moves a
    sketch's locations by at most ``max_step`` (published: 0.5). ``early_stop_probability``: a
    sketch stops (its locations freeze) once its target-class probability reaches this value;
    ``None`` runs every step, as published. ``precision="bfloat16"`` runs the model's forward and
    backward passes under ``torch.autocast``: meant for GPUs and CPUs with bf16 instructions (on a
    2-core AMD EPYC with AVX512-BF16, about 1.6x per step); results differ from float32 at the 1e-3
    level, so it is not the published numerics. Locations, loss and updates stay float32.
    ``canvas``: start points are clamped to ``[-canvas, canvas]`` after every update (1 is the edge
    of the normalised canvas, whose drawings span at most ``[-0.74, 0.74]``); ``None``, as
    published, lets them go anywhere.
    """

    steps: int = 100
    lr: float = 10.0
    min_lr: float = 1e-5
    schedule: str = "cosine"
    optimizer: str = "sgd"
    max_step: float = 0.5
    early_stop_probability: float | None = None
    precision: str = "float32"
    canvas: float | None = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "Protocol":
        """The protocol from a task config, with a clear error for each bad value."""
        p = cls(steps=int(cfg["steps"]), lr=float(cfg["lr"]), min_lr=float(cfg["min_lr"]),
                schedule=str(cfg["schedule"]), optimizer=str(cfg["optimizer"]), max_step=float(cfg["max_step"]),
                early_stop_probability=None if cfg["early_stop_probability"] is None
                else float(cfg["early_stop_probability"]), precision=str(cfg["precision"]),
                canvas=None if cfg["canvas"] is None else float(cfg["canvas"]))
        if p.steps < 0:
            raise BenchError(f"task.steps={p.steps}: must be 0 or more")
        if not p.lr > 0 or p.min_lr < 0 or not p.max_step > 0:
            raise BenchError(f"task.lr={p.lr}, task.min_lr={p.min_lr}, task.max_step={p.max_step}: lr and "
                             f"max_step must be positive, min_lr 0 or more")
        if p.optimizer not in OPTIMIZERS:
            raise BenchError(f"task.optimizer={p.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        if p.schedule not in SCHEDULES:
            raise BenchError(f"task.schedule={p.schedule!r}: expected one of {', '.join(SCHEDULES)}")
        if p.precision not in PRECISIONS:
            raise BenchError(f"task.precision={p.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if p.canvas is not None and not p.canvas > 0:
            raise BenchError(f"task.canvas={p.canvas}: expected null (no bound, as published) or a positive "
                             f"half-width (1 is the normalised canvas)")
        if p.early_stop_probability is not None and not 0 < p.early_stop_probability <= 1:
            raise BenchError(f"task.early_stop_probability={p.early_stop_probability}: expected null or a "
                             f"probability in (0, 1]")
        return p

    @property
    def clip_norm(self) -> float:
        return self.max_step / self.lr

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based): ``CosineAnnealingLR(T_max=steps, eta_min=min_lr)``."""
        if self.schedule == "constant":
            return self.lr
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * step / self.steps)) / 2


def protocol_defaults() -> dict[str, Any]:
    """The task settings of :class:`Protocol` with their defaults (the published protocol)."""
    return {f.name: f.default for f in dataclasses.fields(Protocol)}
