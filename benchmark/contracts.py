"""The contracts a plugin implements: :class:`Encoder`, :class:`Task`, :class:`Dataset`, :class:`Explainer`.

This module imports neither torch nor transformers, so ``bench list`` stays fast: a registered class
is a light description (name, version, capabilities, defaults) plus a factory that imports the heavy
code only when a run needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from benchmark.errors import BenchError, unknown_name

# Annotations name SketchData (benchmark.data.sketches), EncoderModule (benchmark.model) and
# RunContext (benchmark.run.context) as strings: those modules build on this one, not the reverse.

#: Capability: the encoder's logits are differentiable with respect to ``batch.locations``
#: (the strokes' start points), so stroke location inversion (SLI) can run on it.
SLI = "sli"
#: Capability: the logits are differentiable with respect to ``batch.offsets`` (every point's
#: ``dx, dy``) and ``batch.locations``, so gradient explainers can attribute them to strokes.
GRADIENTS = "gradients"
#: Capability: the module has ``attention_probabilities(batch) -> list`` of one ``(B, heads, T, T)``
#: tensor per layer (``T >= 1 + S``), token 0 the classification token and token ``1 + s`` stroke
#: ``s`` of the batch, for attention explainers.
ATTENTION = "attention"


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
    #: Config keys that may also be ``null`` (besides values of their default's type).
    nullable: ClassVar[frozenset[str]] = frozenset()
    #: Bounds of numeric settings, ``{key: (least, most)}`` (``None``: no bound on that side). The
    #: default :meth:`check_config` refuses values outside them, for ``--set`` values and every
    #: checkpoint's config alike; sizes within them are still refused when the model's weights
    #: would not fit the machine's memory (:mod:`benchmark.model_size`).
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    @classmethod
    def build(cls, num_classes: int, config: dict[str, Any]) -> "EncoderModule":
        """Return a freshly initialised module for ``num_classes`` classes from a full config
        (``defaults`` updated with user overrides). Import torch-heavy code inside this method."""
        raise NotImplementedError(f"encoder {cls.name!r} does not implement build()")

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Raise a one-line :class:`BenchError` for settings no build can use; called when runs are
        planned, before any data is read (light: no torch). The default refuses unknown keys (with
        the close names) and values whose type differs from the default's (a number where the
        default is a number, ``true``/``false`` for a boolean, text for text); the runner then
        builds the module once on the meta device, so :meth:`build`'s own checks run at plan time
        too. The bounds of :attr:`limits` are checked here. Override to add other checks, calling
        ``super().check_config(config)``."""
        from benchmark.config import check_like, check_number

        full = cls.full_config(config)
        for key, default in cls.defaults.items():
            if full[key] is None and key in cls.nullable:
                continue
            check_like(f"encoder.{key}", full[key], default)
            if key in cls.limits:
                least, most = cls.limits[key]
                check_number(f"encoder.{key}", full[key], whole=isinstance(default, int), least=least, most=most)

    @classmethod
    def load_external(cls, source: str, num_classes: int) -> tuple["EncoderModule", dict[str, Any]] | None:
        """Load a checkpoint that sketchxai-bench did not write, named by ``--checkpoint SOURCE``
        (e.g. the published weights of the model this encoder re-implements: a weights file, a
        folder, or a hub id). Asked only when ``SOURCE`` is not a :mod:`benchmark.checkpoints` folder.

        Return ``(module, config)``: the module (``num_classes`` outputs, any device) holding the
        weights, and the full encoder config it was built with (the run records it as
        ``config.encoder``, with ``encoder.config_source`` ``"external checkpoint SOURCE"``); or
        ``None`` when ``SOURCE`` is nothing this encoder loads. A source it recognises but cannot
        read (missing, unreachable hub, wrong sizes) is a one-line :class:`BenchError`. Default:
        ``None`` (only sketchxai-bench checkpoints)."""
        return None

    @classmethod
    def full_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``defaults`` updated with ``config``; a key not in ``defaults`` is a one-line error
        with the close names (for :meth:`build` implementations)."""
        unknown = sorted(set(config) - set(cls.defaults))
        if unknown:
            raise BenchError(f"encoder {cls.name!r}: " + "; ".join(str(unknown_name("setting", key, cls.defaults))
                                                                    for key in unknown))
        return {**cls.defaults, **config}


#: How a per-sketch metric is aggregated over the sketches of a run (:mod:`benchmark.metrics`).
AGGREGATIONS = ("mean", "proportion", "ratio_of_means")
#: Paired tests between two runs on the same sketches (:mod:`benchmark.report.significance`).
TESTS = ("mcnemar", "permutation")
#: Metric kinds: ``score`` columns come first on a leaderboard, ``speed`` columns after them.
KINDS = ("score", "speed")
#: How a metric's numbers are printed (one format per kind of number, three significant digits,
#: its CI in the same format): ``percent`` a proportion in [0, 1] shown as a percentage;
#: ``signed`` a ratio or a difference (may be negative or above 1), a plain number with its sign;
#: ``number`` any other number; ``speed`` a throughput; ``flag`` 1 = yes, 0 = no.
FORMATS = ("percent", "signed", "number", "speed", "flag")
#: What the validation ladder can say of a metric (``""``: not validated); see :class:`Metric`.
VERDICTS = ("", "holds", "order only", "fails")


def infer_format(unit: str, aggregation: str | None, kind: str) -> str:
    """The format of a metric that declares none (and of older records): a speed is a speed; a
    proportion of booleans, or a run-level value in unit ``fraction``, is a percentage; any other
    fraction (a mean of differences, a ratio of means) is signed, never a percentage; the rest plain."""
    if kind == "speed":
        return "speed"
    if aggregation == "proportion" or (unit == "fraction" and aggregation is None):
        return "percent"
    if unit == "fraction":
        return "signed"
    return "number"


def field_names(field: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """A metric's ``field`` as a tuple of per-sketch field names (empty for a run-level metric)."""
    if field is None:
        return ()
    return (field,) if isinstance(field, str) else tuple(field)


@dataclass(frozen=True)
class Metric:
    """What a task reports under one metric name: declared once, copied into every run record.

    :param higher_is_better: the score direction (leaderboard order, arrows, paired tests).
    :param description: one sentence for readers; ``unit``: e.g. ``"fraction"``, ``"sketches/s"``.
    :param label: the leaderboard column label (default: the metric name).
    :param headline: shown in the default leaderboard (a task with no headline metric shows all).
    :param kind: ``"score"`` or ``"speed"`` (speed columns are shown after every score column).
    :param field: the per-sketch field the metric is computed from (one name), or for
        ``ratio_of_means`` a pair ``(numerator, denominator)``. ``None``: a run-level value the
        task returns itself in :attr:`TaskResult.metrics` (no CI from sketches, no paired test).
        With a field the core computes the value and its 95% CI from the rows the task wrote with
        ``ctx.write_per_sketch``; a sketch whose field is null (or non-finite) is left out.
    :param aggregation: ``"mean"`` (percentile bootstrap CI), ``"proportion"`` (of booleans, Wilson
        CI) or ``"ratio_of_means"`` (``mean(numerator) / mean(denominator)`` over the sketches where
        both are defined, paired bootstrap CI).
    :param test: the paired test of two runs on the same sketches: ``"mcnemar"`` (exact, booleans),
        ``"permutation"`` (the same statistic as ``aggregation``, per-sketch outcomes swapped between
        the runs), or ``None``. Default: McNemar for proportions, permutation otherwise.
    :param same: per-sketch fields that must agree between two runs for them to be paired (e.g. the
        transfer target).
    :param format: how its numbers are printed, one of :data:`FORMATS`; default from the unit,
        aggregation and kind (:func:`infer_format`).
    :param control_of: the name of the task's metric this one is the control of (e.g. the
        random-weights control's fidelity for ``"fidelity"``): boards show it right after that
        metric and never rank rows by it.
    :param validation: the verdict the validation ladder gives this metric (``"holds"``, ``"order
        only"`` or ``"fails"``; see :mod:`tasks.validation` and ``results/validation/VALIDATION.md``),
        printed beside its column header; ``""``: not validated. One verdict for every setting of
        the task, or pairs ``((variant, verdict), ...)`` per variant (the values of the task's
        ``variant_keys`` joined by commas, e.g. the SLI preset ``"published"``). A test holds every
        declared verdict to the committed ladder's, so the declaration cannot drift from the evidence.
    """

    higher_is_better: bool
    description: str = ""
    unit: str = ""
    label: str = ""
    headline: bool = False
    kind: str = "score"
    field: str | tuple[str, str] | None = None
    aggregation: str | None = None
    test: str | None = ""
    same: tuple[str, ...] = ()
    format: str = ""
    control_of: str = ""
    validation: str | tuple[tuple[str, str], ...] = ""

    def __post_init__(self):
        if not isinstance(self.validation, str):
            object.__setattr__(self, "validation", tuple((str(k), str(v)) for k, v in self.validation))
        if self.field is not None and self.aggregation is None:
            object.__setattr__(self, "aggregation", "mean")
        if self.test == "":
            default = None if self.field is None else "mcnemar" if self.aggregation == "proportion" else "permutation"
            object.__setattr__(self, "test", default)
        object.__setattr__(self, "same", tuple(self.same))
        if not self.format:
            object.__setattr__(self, "format", infer_format(self.unit, self.aggregation, self.kind))

    @property
    def fields(self) -> tuple[str, ...]:
        """The per-sketch fields the metric reads (empty for a run-level metric)."""
        return field_names(self.field)

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when it is usable)."""
        out = []
        if not isinstance(self.higher_is_better, bool):
            out.append("higher_is_better must be True or False")
        if self.kind not in KINDS:
            out.append(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        given = [self.validation] if isinstance(self.validation, str) else [v for _, v in self.validation]
        if any(v not in VERDICTS for v in given):
            out.append(f"validation must be one of {', '.join(map(repr, VERDICTS))} (or (variant, verdict) pairs)")
        if self.format not in FORMATS:
            out.append(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.field is None:
            if self.aggregation is not None or self.test is not None:
                out.append("aggregation and test need a per-sketch field")
            return out
        if self.aggregation not in AGGREGATIONS:
            out.append(f"aggregation {self.aggregation!r} is not one of {', '.join(AGGREGATIONS)}")
        if len(self.fields) != (2 if self.aggregation == "ratio_of_means" else 1) or not all(
                isinstance(f, str) and f for f in self.fields):
            out.append("field must be one name, or a (numerator, denominator) pair for ratio_of_means")
        if self.test is not None and self.test not in TESTS:
            out.append(f"test {self.test!r} is not one of {', '.join(TESTS)}")
        if self.test == "mcnemar" and self.aggregation != "proportion":
            out.append("the mcnemar test needs aggregation 'proportion'")
        return out

    def verdict(self, variant: str = "") -> str:
        """The declared validation verdict for the task setting ``variant`` (``""``: none declared)."""
        if isinstance(self.validation, str):
            return self.validation
        return dict(self.validation).get(variant, "")

    def declaration(self, position: int, variant: str = "") -> dict[str, Any]:
        """The declaration as it travels in a run record (``position``: its order in the task;
        ``variant``: the run's task setting, see :meth:`verdict`)."""
        return {"higher_is_better": self.higher_is_better, "description": self.description, "unit": self.unit,
                "label": self.label, "headline": self.headline, "kind": self.kind, "position": position,
                "field": list(self.fields) if self.aggregation == "ratio_of_means" else self.field,
                "aggregation": self.aggregation, "test": self.test, "same": list(self.same), "format": self.format,
                "control_of": self.control_of, "validation": self.verdict(variant)}


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

    ``metrics`` maps run-level names declared in ``Task.metrics`` (no ``field``) to a float or
    :class:`MetricValue` (per-sketch metrics come from ``ctx.write_per_sketch``);
    ``artifacts`` maps a label to a path relative to the run's artifact folder;
    ``extra`` holds JSON-serialisable facts for the run record (e.g. truncation counts).
    """

    metrics: dict[str, float | MetricValue]
    artifacts: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Task(_Registered):
    """A registered task: trains and/or evaluates one encoder on one dataset.

    Subclasses set ``name``, ``version`` (bump whenever scoring changes: records with different
    versions are never compared), ``metrics`` (every name it reports, each a :class:`Metric`
    declaring its direction, label, aggregation and paired test), ``requires`` (encoder
    capabilities it needs, e.g. ``{"sli"}``), ``defaults`` and implement :meth:`run`, which is
    called on every rank of a (possibly distributed) run.

    Per-sketch metrics (a :class:`Metric` with a ``field``) are not computed by the task: it writes
    one row per sketch with ``ctx.write_per_sketch(split, rows)`` and the core aggregates them, so
    the leaderboard's paired tests compare exactly the statistic it ranks. Run-level metrics
    (speeds, the valid accuracy of the selected epoch) are returned in :attr:`TaskResult.metrics`.
    """

    metrics: ClassVar[dict[str, Metric]] = {}
    requires: ClassVar[frozenset[str]] = frozenset()
    #: True when the task needs a trained classifier: the runner passes ``--checkpoint``, else the
    #: newest matching checkpoint of the classifier-providing task (hook
    #: ``bench_classifier_provider``), training one first if there is none, as ``ctx.checkpoint``.
    requires_trained: ClassVar[bool] = False
    #: Where the task's columns sit on a leaderboard (lower first; ties by task name). Rows are
    #: sorted by the first column shown.
    order: ClassVar[int] = 100
    #: Task settings whose values make different *settings of the task* (e.g. the SLI ``preset``):
    #: records say them (``task.variant``), and a leaderboard shows each value as its own columns,
    #: labelled with it, never as a newer run replacing an older one. Other task settings do not.
    variant_keys: ClassVar[tuple[str, ...]] = ()
    #: Task config keys that make separate leaderboard rows (e.g. ``("explainer",)``: one row per
    #: encoder and explainer); their values travel in the record as ``task.row_keys``.
    row_keys: ClassVar[tuple[str, ...]] = ()
    #: The leaderboard board the task's columns go on: tasks of one family share a board (one per
    #: dataset and variant), each answering one question; ``""``: a board of its own (its name).
    family: ClassVar[str] = ""
    #: The question the family's board answers, shown as its caption (the first task's by order).
    question: ClassVar[str] = ""
    #: Row facts the board shows beside the metrics (``"parameters"``: the encoder's parameter count).
    row_facts: ClassVar[tuple[str, ...]] = ()
    #: For a classifier-providing task: settings that make a deliberately different classifier (e.g.
    #: a training augmentation that weakens what it learns). Its checkpoint is reused for another
    #: task's run only when the command names that value; a command that names none reuses only
    #: classifiers trained at the default (a record without the key counts as the default).
    distinct_settings: ClassVar[tuple[str, ...]] = ()
    #: The curves its records carry (``extra["curves"]``: name -> the plot's title), so the report
    #: says where the counted records are of an older version that predates one.
    curves: ClassVar[dict[str, str]] = {}
    #: Of those, the curves whose records carry a control line (``extra["curves"][NAME]["control"]``:
    #: name -> its label), so the report says where the plotted records predate it.
    curve_controls: ClassVar[dict[str, str]] = {}

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
    #: File suffixes this dataset opens when ``--data`` is a path (e.g. ``(".h5",)``); the path
    #: is given to :meth:`open` as ``config["path"]``.
    suffixes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Raise a one-line :class:`BenchError` for settings no open can use; called when runs are
        planned (light). Default: accept everything."""

    @classmethod
    def open(cls, config: dict[str, Any]) -> "SketchData":
        """Open (preparing or generating if needed) and return the data for a full config."""
        raise NotImplementedError(f"dataset {cls.name!r} does not implement open()")


class Explainer(_Registered):
    """A registered explainer: one importance score per stroke of a frozen classifier's decision.

    Subclasses set ``name``, ``version`` (bump when the scores change), ``requires`` (encoder
    capabilities it needs, e.g. ``{"gradients"}`` or ``{"attention"}``; a run pairing it with an
    encoder that lacks one is refused when planned), ``defaults`` (its settings) and implement
    :meth:`attribute`. ``control``: a model-independent reference (the ``random`` explainer), run
    beside every other explainer.

    An instance is made per run: ``cls(config, seed)`` with the full config (``defaults`` updated
    with the task's ``explainer_config``) and the run seed. Any randomness must be seeded per sketch
    (from ``seed`` and ``batch.index``), so scores do not depend on batching or process count.
    """

    requires: ClassVar[frozenset[str]] = frozenset()
    control: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any] | None = None, seed: int = 0):
        self.config = self.full_config(dict(config or {}))
        self.seed = int(seed)

    @classmethod
    def full_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``defaults`` updated with ``config``; an unknown key is a one-line error."""
        unknown = sorted(set(config) - set(cls.defaults))
        if unknown:
            raise BenchError(f"explainer {cls.name!r}: " + "; ".join(
                str(unknown_name("setting", key, cls.defaults)) for key in unknown))
        return {**cls.defaults, **config}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Raise a one-line :class:`BenchError` for unusable settings (light, at plan time).
        Default: unknown keys and values of the wrong type are refused."""
        from benchmark.config import check_like

        full = cls.full_config(config)
        for key, default in cls.defaults.items():
            check_like(f"explainer.{key}", full[key], default)

    def attribute(self, model: "EncoderModule", batch: "StrokeBatch", targets: "torch.Tensor") -> "torch.Tensor":
        """``(B, S)`` float importances of each stroke of ``batch`` for class ``targets`` ``(B,)``
        (higher: more important to the class) under the frozen ``model`` (eval mode). Finite
        everywhere; padded strokes (``~batch.stroke_mask``) are 0 and callers mask them out."""
        raise NotImplementedError(f"explainer {self.name!r} does not implement attribute()")


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
