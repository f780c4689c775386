"""The contracts a plugin implements: :class:`Encoder`, :class:`Task`, :class:`Dataset`.

This module imports neither torch nor transformers, so ``bench list`` stays fast: a registered class
is a light description (name, version, capabilities, defaults) plus a factory that imports the heavy
code only when a run needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.errors import BenchError, unknown_name

if TYPE_CHECKING:  # pragma: no cover - typing only
    from benchmark.data.sketches import SketchData
    from benchmark.model import EncoderModule
    from benchmark.runner import RunContext

#: Capability: the encoder's logits are differentiable with respect to ``batch.locations``
#: (the strokes' start points), so stroke location inversion (SLI) can run on it.
SLI = "sli"


class _Registered:
    """Shared metadata of everything a plugin registers."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    #: Default configuration; ``bench run --set key=value`` overrides keys that exist here.
    defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def summary(cls) -> str:
        """One-line description: the class attribute, else the docstring's first line."""
        text = cls.description or (cls.__doc__ or "").strip()
        return text.splitlines()[0].strip() if text else ""


class Encoder(_Registered):
    """A registered sketch encoder (a classifier over a :class:`benchmark.batch.StrokeBatch`).

    Subclasses set ``name`` (unique across plugins), ``version`` (bump when the architecture or its
    defaults change), ``capabilities`` (e.g. ``{"sli"}``), ``defaults`` (the hyper-parameters
    :meth:`build` accepts) and implement :meth:`build`.

    The module :meth:`build` returns is a :class:`benchmark.model.EncoderModule`:
    ``module(batch) -> logits`` of shape ``(batch_size, num_classes)``. With the ``sli`` capability
    the logits must be differentiable with respect to ``batch.locations``. Saving and loading are
    generic (:mod:`benchmark.checkpoints`): a safetensors state dict plus a JSON config holding the
    encoder name, version, ``num_classes`` and the config given to :meth:`build`, so ``build`` must
    be deterministic in its arguments.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: Config keys that only choose initial weights (e.g. a pretrained backbone id): loading a
    #: checkpoint builds with them set to ``None``, since the stored weights replace them.
    init_only: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def build(cls, num_classes: int, config: dict[str, Any]) -> "EncoderModule":
        """Return a freshly initialised module for ``num_classes`` classes from a full config
        (``defaults`` updated with user overrides). Import torch-heavy code inside this method."""
        raise NotImplementedError(f"encoder {cls.name!r} does not implement build()")

    @classmethod
    def full_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``defaults`` updated with ``config``; a key not in ``defaults`` is a one-line error
        with the close names (for :meth:`build` implementations)."""
        unknown = sorted(set(config) - set(cls.defaults))
        if unknown:
            raise BenchError(f"encoder {cls.name!r}: " + "; ".join(str(unknown_name("setting", key, cls.defaults))
                                                                    for key in unknown))
        return {**cls.defaults, **config}


@dataclass(frozen=True)
class Metric:
    """What a task reports under one metric name."""

    higher_is_better: bool
    description: str = ""
    unit: str = ""


@dataclass(frozen=True)
class MetricValue:
    """A measured value, with its 95% confidence interval when the task gives one."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _finite_or_none(self.value)}
        if self.ci_low is not None:
            out["ci_low"] = _finite_or_none(self.ci_low)
            out["ci_high"] = _finite_or_none(self.ci_high)
        if self.n is not None:
            out["n"] = int(self.n)
        return out


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


@dataclass
class TaskResult:
    """What :meth:`Task.run` returns on every rank (only rank 0's is recorded).

    ``metrics`` maps each name declared in ``Task.metrics`` to a float or :class:`MetricValue`;
    ``artifacts`` maps a label to a path relative to the run's artifact folder;
    ``extra`` holds JSON-serialisable facts for the run record (e.g. truncation counts).
    """

    metrics: dict[str, float | MetricValue]
    artifacts: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Task(_Registered):
    """A registered task: trains and/or evaluates one encoder on one dataset.

    Subclasses set ``name``, ``version`` (bump whenever scoring changes: records with different
    versions are never compared), ``metrics`` (every name it reports, with ``higher_is_better``),
    ``requires`` (encoder capabilities it needs, e.g. ``{"sli"}``), ``defaults`` and implement
    :meth:`run`, which is called on every rank of a (possibly distributed) run.
    """

    metrics: ClassVar[dict[str, Metric]] = {}
    requires: ClassVar[frozenset[str]] = frozenset()
    #: True when the task needs a trained classifier: the runner passes ``--checkpoint`` or the
    #: newest matching ``recognition`` checkpoint as ``ctx.checkpoint`` (training one first if none).
    requires_trained: ClassVar[bool] = False

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Raise a one-line :class:`BenchError` for a task setting no run can use; may normalise
        values in place (``3.0`` -> ``3``). Called when runs are planned, before any data is
        opened or classifier trained; must stay light (no torch). Default: accept everything."""

    def run(self, ctx: "RunContext") -> TaskResult:
        """Do the work for ``ctx.encoder`` on ``ctx.data`` and return the metrics."""
        raise NotImplementedError(f"task {self.name!r} does not implement run()")


class Dataset(_Registered):
    """A registered dataset: named splits of sketches plus category names.

    :meth:`open` returns a :class:`benchmark.data.sketches.SketchData`; ``synthetic`` says whether its
    sketches are generated rather than drawn by people (outputs say so).
    """

    synthetic: ClassVar[bool] = False

    @classmethod
    def open(cls, config: dict[str, Any]) -> "SketchData":
        """Open (preparing or generating if needed) and return the data for a full config."""
        raise NotImplementedError(f"dataset {cls.name!r} does not implement open()")


@dataclass(frozen=True)
class RunInfo:
    """What lifecycle hooks receive about a run."""

    run_id: str
    task: str
    encoder: str
    dataset: str
    config: dict[str, Any]
    seed: int
    rank: int
    world_size: int
