"""Running the attribution tasks (:mod:`tasks.attribution`): sample, explain, score, gather.

Every row also says whether the classifier got the sketch right (``correct``): a run whose
classifier's accuracy CI on the explained sketches contains chance (1 / classes) explains a
classifier that has learned nothing, and its record says it is not to be ranked
(``extra.unranked``). Pointing runs also score every control explainer (``random`` and the
model-blind statistics) on the same sketches: the pointing set is valid only when each control's
mean AUROC CI contains 0.5 or lies within [0.4, 0.6] (:func:`pointing_set_verdict`); otherwise the
record says "pointing set invalid" and is not ranked either.

Every rank explains its exact share of a seeded sample of the split (``ctx.eval_batches``); the
per-sketch rows (scores and curves as lists) are gathered on rank 0, which writes them with
``ctx.write_per_sketch`` (the core aggregates the declared metrics with 95% CIs), the mean curves
(``extra["curves"]``, with seeded bootstrap intervals) and a thumbnail strip of sketches with
strokes coloured by importance (artifact ``thumbnails``); for pointing also the ROC
(``extra["curves"]["pointing_roc"]``, :func:`tasks.attribution.pictures.mean_roc`).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr

from benchmark import stats
from benchmark.contracts import TaskResult
from benchmark.data.distractors import VERSION as DISTRACTORS_VERSION, with_distractors
from benchmark.errors import BenchError
from benchmark.model import freeze
from benchmark.progress import bar
from benchmark.run.plan import EXPLAINER, EXPLAINER_CONFIG
from tasks.attribution.explainers.values import subset_values
from tasks.attribution.pictures import THUMBNAILS, mean_curve, mean_roc, thumbnail_strip
from tasks.sampling import select_sketches

CONTROL = "random"
#: A pointing set is valid when every control's AUROC CI contains 0.5 or lies within this band.
CHANCE_BAND = (0.4, 0.6)
INVALID_SET = "pointing set invalid: a model-blind heuristic separates distractors"
#: Sketch variants per forward pass when scoring deletion curves.
_CHUNK = 512


class _Setup:
    def __init__(self, ctx):
        cfg = ctx.task_config
        self.ctx, self.cfg = ctx, cfg
        self.model = freeze(ctx.load_encoder(ctx.checkpoint))
        name = cfg[EXPLAINER]
        self.explainer = ctx.manager.explainer(name)((cfg[EXPLAINER_CONFIG] or {}).get(name, {}), ctx.seed)
        self.control = ctx.manager.explainer(CONTROL)({}, ctx.seed)
        split = ctx.data.split(cfg["split"])
        if len(split) == 0:
            raise BenchError(f"split {cfg['split']!r} of dataset {ctx.data.name!r} has no sketch to explain")
        self.split = split
        self.indices = select_sketches(np.arange(len(split)), cfg["max_sketches"], ctx.seed)

    def batches(self):
        return self.ctx.eval_batches(self.cfg["split"], self.cfg["batch_size"], indices=self.indices, split=self.split)

    @torch.no_grad()
    def correct(self, batch) -> np.ndarray:
        """Per sketch: does the classifier's top class equal the label?"""
        return (self.model(batch).argmax(1) == batch.labels).cpu().numpy()

    def scores(self, explainer, batch, model=None) -> torch.Tensor:
        out = explainer.attribute(model or self.model, batch, batch.labels)
        if out.shape != batch.stroke_mask.shape or not bool(torch.isfinite(out).all()):
            raise BenchError(f"explainer {explainer.name!r} returned {tuple(out.shape)} scores with non-finite values "
                             f"or of the wrong shape (expected {tuple(batch.stroke_mask.shape)}, finite)")
        return (out * batch.stroke_mask).detach().float().cpu()


def _loop(setup: _Setup, label: str, per_batch) -> tuple[list[dict], float]:
    """Rows of every sketch of the sample (rank 0; ``[]`` elsewhere) and the elapsed seconds."""
    ctx = setup.ctx
    rows: list[dict] = []
    started = time.perf_counter()
    with bar(ctx.dist.rank) as progress:
        job = progress.add_task(f"{label} {setup.explainer.name} ({setup.cfg['split']})", total=len(setup.indices))
        for batch in setup.batches():
            rows += per_batch(batch)
            progress.advance(job, batch.size * ctx.dist.world_size)
    return _gathered(ctx, rows), time.perf_counter() - started


def _gathered(ctx, rows: list[dict]) -> list[dict]:
    payload = np.empty(len(rows), dtype=object)
    payload[:] = rows
    got = ctx.gather(np.asarray([r["index"] for r in rows], dtype=np.int64), {"row": payload})
    return [] if got is None else list(got["row"])


def _base_row(batch, b: int, scores: torch.Tensor, correct: np.ndarray) -> dict:
    n = int(batch.num_strokes[b])
    return {"index": int(batch.index[b]), "label": int(batch.labels[b]), "num_strokes": n,
            "correct": bool(correct[b]), "scores": scores[b, :n].tolist()}


def chance_verdict(rows: list[dict], num_classes: int) -> dict:
    """The explained classifier's accuracy on the explained sketches, its CI, and whether the CI
    contains chance (``1 / num_classes``)."""
    acc = stats.proportion(np.array([r["correct"] for r in rows], dtype=np.float64))
    chance = 1.0 / max(num_classes, 1)
    at_chance = acc.ci_low is None or acc.ci_low <= chance
    return {"accuracy": acc.value, "ci": [acc.ci_low, acc.ci_high], "chance": chance, "at_chance": bool(at_chance)}


def pointing_set_verdict(control_aurocs: dict[str, np.ndarray], seed: int) -> dict:
    """Per control explainer the mean per-sketch AUROC with its CI, and whether the pointing set is
    valid: every control's CI contains 0.5 or lies within :data:`CHANCE_BAND` (a score far below
    0.5 separates the strokes as well as one far above, negated)."""
    controls, valid = {}, True
    for name, values in sorted(control_aurocs.items()):
        m = stats.mean(np.asarray(values, dtype=np.float64), seed=seed)
        lo, hi = m.ci_low, m.ci_high
        ok = lo is not None and hi is not None and ((lo <= 0.5 <= hi) or (CHANCE_BAND[0] <= lo and hi <= CHANCE_BAND[1]))
        controls[name] = {"auroc": m.value, "ci": [lo, hi], "chance_like": bool(ok)}
        valid = valid and ok
    return {"valid": bool(valid), "controls": controls,
            "rule": f"every control's mean AUROC CI contains 0.5 or lies within [{CHANCE_BAND[0]}, {CHANCE_BAND[1]}]"}


def _finish(ctx, setup: _Setup, rows: list[dict], elapsed: float, curves: dict, extra: dict | None = None,
            metrics: dict | None = None, stroke_labels: bool = False) -> TaskResult:
    if not ctx.dist.is_main:
        return TaskResult(metrics={})
    ctx.write_per_sketch(setup.cfg["split"], rows)
    extra = dict(extra or {})
    unranked = list(extra.pop("unranked", []))
    classifier = chance_verdict(rows, len(ctx.data.categories)) if rows else None
    if classifier and classifier["at_chance"]:
        lo, hi = classifier["ci"]
        reason = (f"classifier at chance on the explained sketches: top-1 {classifier['accuracy']:.1%} "
                  f"[{lo:.1%}, {hi:.1%}], chance {classifier['chance']:.1%}")
        ctx.note(reason + "; an explanation of a classifier that learned nothing says nothing about the explainer")
        unranked.append(reason)
    artifacts = {}
    shown = rows[:setup.cfg["thumbnails"]]
    if shown:
        split = setup.split
        svg = thumbnail_strip([split.sketch(r["index"]) for r in shown], [r["scores"] for r in shown],
                              [split.stroke_labels_of(r["index"]) if stroke_labels else None for r in shown],
                              [f"#{r['index']} {ctx.data.categories[r['label']]}" for r in shown],
                              f"{setup.explainer.name} on {ctx.spec.encoder}: red = important")
        (ctx.run_dir).mkdir(parents=True, exist_ok=True)
        from benchmark.records import atomic_write_text

        atomic_write_text(ctx.run_dir / THUMBNAILS, svg)
        artifacts["thumbnails"] = THUMBNAILS
    return TaskResult(metrics={"sketches_per_s": len(rows) / elapsed, **(metrics or {})}, artifacts=artifacts,
                      extra={"sketches": len(rows), "explainer": setup.explainer.name,
                             "explainer_version": setup.explainer.version,
                             "explainer_plugin": ctx.manager.entry("explainer", setup.explainer.name).plugin,
                             "explainer_config": setup.explainer.config, "control": CONTROL, "curves": curves,
                             "classifier": classifier, "unranked": unranked,
                             **extra, "timings": {"attribution_s": round(elapsed, 3)}})


# -- deletion ------------------------------------------------------------------------------------
def deletion_curves(model, batch, scores: torch.Tensor, most_first: bool) -> list[np.ndarray]:
    """Per sketch, the target probability after removing its ``k = 0..n`` highest-scored (or
    lowest-scored) strokes, all variants of the batch evaluated together."""
    counts = batch.num_strokes.cpu().tolist()
    S = batch.stroke_mask.shape[1]
    rows, keeps = [], []
    for b, n in enumerate(counts):
        key = -scores[b, :n].numpy() if most_first else scores[b, :n].numpy()
        order = np.argsort(key, kind="stable")
        keep = np.zeros((n + 1, S), dtype=bool)
        keep[:, :n] = True
        for k in range(1, n + 1):
            keep[k:, order[k - 1]] = False
        rows.append(np.full(n + 1, b))
        keeps.append(keep)
    device = batch.stroke_mask.device
    values = subset_values(model, batch, torch.as_tensor(np.concatenate(rows), device=device),
                           torch.as_tensor(np.concatenate(keeps), device=device), batch.labels, _CHUNK).cpu().numpy()
    out, start = [], 0
    for n in counts:
        out.append(values[start:start + n + 1].astype(np.float64))
        start += n + 1
    return out


def curve_area(curve: np.ndarray) -> float:
    """Trapezoid area over ``x = k / n`` (``k = 0..n``), both end points included."""
    x = np.linspace(0.0, 1.0, len(curve))
    return float(np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(x)))


def run_deletion(ctx) -> TaskResult:
    setup = _Setup(ctx)

    def per_batch(batch):
        scores, control = setup.scores(setup.explainer, batch), setup.scores(setup.control, batch)
        morf, lerf = (deletion_curves(setup.model, batch, scores, m) for m in (True, False))
        c_morf, c_lerf = (deletion_curves(setup.model, batch, control, m) for m in (True, False))
        correct = setup.correct(batch)
        out = []
        for b in range(batch.size):
            gap = curve_area(lerf[b]) - curve_area(morf[b])
            row = _base_row(batch, b, scores, correct)
            row.update(p_full=float(morf[b][0]), morf_area=curve_area(morf[b]), lerf_area=curve_area(lerf[b]),
                       gap=gap, gap_vs_random=gap - (curve_area(c_lerf[b]) - curve_area(c_morf[b])),
                       morf=morf[b].tolist(), lerf=lerf[b].tolist())
            out.append(row)
        return out

    rows, elapsed = _loop(setup, "deletion", per_batch)
    curves = {}
    if rows:
        for name, key, title in (("deletion_morf", "morf", "most important first"),
                                 ("deletion_lerf", "lerf", "least important first")):
            curves[name] = mean_curve([r[key] for r in rows], ctx.seed, "fraction of strokes removed",
                                      "target probability", f"Stroke deletion, {title}")
    return _finish(ctx, setup, rows, elapsed, curves)


# -- pointing ------------------------------------------------------------------------------------
def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUROC of ``scores`` for ``positive`` (bool) vs the rest, ties counted 1/2; NaN without both."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pointing_split(ctx, split, per_sketch: int):
    """``split`` itself where the data stores per-stroke labels (``demo_distractors``), else its
    sketches with ``per_sketch`` distractor strokes from its own other sketches
    (:func:`benchmark.data.distractors.with_distractors`, seeded by the run seed)."""
    if split.stroke_labels is not None:
        return split, {"source": f"dataset {ctx.data.name!r} (stored per-stroke labels)"}
    if len(split) < 2:
        raise BenchError(f"stroke_pointing: split {split.name!r} of {ctx.data.name!r} has {len(split)} sketch; "
                         f"distractors need at least two")
    return with_distractors(split, per_sketch, [ctx.seed]), {
        "source": f"built from split {split.name!r} of {ctx.data.name!r}: {per_sketch} strokes of other sketches "
                  f"of the split per sketch (benchmark.data.distractors v{DISTRACTORS_VERSION}, seed {ctx.seed})"}


def run_pointing(ctx) -> TaskResult:
    setup = _Setup(ctx)
    setup.split, built = pointing_split(ctx, setup.split, setup.cfg["distractors"])
    controls = {name: cls({}, ctx.seed) for name, cls in sorted(ctx.manager.explainers.items()) if cls.control}

    def per_batch(batch):
        scores, control = setup.scores(setup.explainer, batch), setup.scores(setup.control, batch)
        blind = {name: setup.scores(c, batch) for name, c in controls.items()}
        correct = setup.correct(batch)
        out = []
        for b in range(batch.size):
            row = _base_row(batch, b, scores, correct)
            n = row["num_strokes"]
            evidence = setup.split.stroke_labels_of(row["index"])[:n] == 1
            value = auroc(scores[b, :n].numpy(), evidence)
            row.update(evidence=evidence.astype(int).tolist(), auroc=value,
                       auroc_vs_random=value - auroc(control[b, :n].numpy(), evidence),
                       top_is_evidence=bool(evidence[int(np.argmax(scores[b, :n].numpy()))]),
                       control_auroc={k: auroc(v[b, :n].numpy(), evidence) for k, v in blind.items()})
            out.append(row)
        return out

    rows, elapsed = _loop(setup, "pointing", per_batch)
    extra, curves = {}, {}
    if rows:
        roc = mean_roc([(r["scores"], r["evidence"]) for r in rows], ctx.seed,
                       ctx.manager.task(ctx.spec.task).curves["pointing_roc"])
        if roc is not None:
            curves["pointing_roc"] = roc
        verdict = pointing_set_verdict({k: np.array([r["control_auroc"][k] for r in rows]) for k in controls},
                                       ctx.seed)
        extra = {"pointing_set": {**built, **verdict}}
        if not verdict["valid"]:
            worst = max(verdict["controls"].items(), key=lambda kv: abs(kv[1]["auroc"] - 0.5))
            lo, hi = worst[1]["ci"]
            reason = f"{INVALID_SET} ({worst[0]} AUROC {worst[1]['auroc']:.3f} [{lo:.3f}, {hi:.3f}])"
            ctx.note(reason)
            extra["unranked"] = [reason]
    return _finish(ctx, setup, rows, elapsed, curves, extra=extra, stroke_labels=True)


# -- sanity ---------------------------------------------------------------------------------------
def randomise(module: torch.nn.Module, seed: int) -> None:
    """Re-initialise every sub-module of ``module`` that has ``reset_parameters`` (seeded)."""
    torch.manual_seed(seed)
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation, NaN for fewer than 2 strokes or constant scores."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def run_sanity(ctx) -> TaskResult:
    setup = _Setup(ctx)
    cfg = ctx.task_config
    layers = setup.model.randomisation_layers()
    if not layers:
        raise BenchError(f"encoder {ctx.spec.encoder!r} lists no layers to randomise (EncoderModule."
                         f"randomisation_layers)")
    started = time.perf_counter()
    batches = list(setup.batches())
    trained = [setup.scores(setup.explainer, batch) for batch in batches]
    correct = [setup.correct(batch) for batch in batches]
    model = copy.deepcopy(setup.model)
    names = [name for name, _ in layers]
    modules = dict(model.randomisation_layers())
    curves = [[[] for _ in range(batch.size)] for batch in batches]
    with bar(ctx.dist.rank) as progress:
        job = progress.add_task(f"sanity {setup.explainer.name}: {len(names)} layers", total=len(names))
        for step, name in enumerate(reversed(names)):
            randomise(modules[name], ctx.seed * 1000 + step)
            freeze(model)
            for i, batch in enumerate(batches):
                now = setup.scores(setup.explainer, batch, model)
                for b in range(batch.size):
                    n = int(batch.num_strokes[b])
                    curves[i][b].append(spearman(trained[i][b, :n].numpy(), now[b, :n].numpy()))
            progress.advance(job, 1)
    local = []
    for i, batch in enumerate(batches):
        for b in range(batch.size):
            row = _base_row(batch, b, trained[i], correct[i])
            row.update(spearman=curves[i][b], spearman_full=curves[i][b][-1])
            local.append(row)
    rows = _gathered(ctx, local)
    elapsed = time.perf_counter() - started
    if not ctx.dist.is_main:
        return TaskResult(metrics={})
    full = stats.mean(np.array([r["spearman_full"] for r in rows], dtype=np.float64), seed=ctx.seed)
    passed = full.ci_high is not None and np.isfinite(full.ci_high) and full.ci_high < cfg["pass_below"]
    curve = mean_curve([r["spearman"] for r in rows], ctx.seed, "layers randomised (from the output down)",
                       "Spearman, trained vs randomised", "Cascading randomisation", grid=False)
    curve["x_ticks"] = [f"{k + 1}: {n}" for k, n in enumerate(reversed(names))]
    return _finish(ctx, setup, rows, elapsed, {"sanity_spearman": curve}, metrics={"passed": float(passed)},
                   extra={"sanity": {"passed": bool(passed), "pass_below": cfg["pass_below"],
                                     "layers_top_down": list(reversed(names))}})
