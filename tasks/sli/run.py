"""Running the SLI tasks: sketch selection, batched inversion, per-sketch measures.

Every rank inverts its exact share of a seeded sample of the split (``ctx.eval_batches``); the
per-sketch results are gathered on rank 0, which writes them with ``ctx.write_per_sketch`` (the
core aggregates the declared metrics, with 95% confidence intervals) and the picture gallery
(``gallery/index.html``). Every random
choice (start locations, transfer targets, sample, pictures) is seeded per sketch, so results do
not depend on batching or on the number of processes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from benchmark.contracts import TaskResult
from benchmark.errors import BenchError, unknown_name
from benchmark.progress import bar
from benchmark.model import freeze
from benchmark.records import atomic_write_text
from tasks.sampling import select_sketches, start_locations
from tasks.sli import metrics as sm
from tasks.sli.inversion import Inversion, Protocol, invert_many, random_other_classes
from tasks.sli.local import layout_preference, local_alignment, moved_layouts
from tasks.sli.pictures import SketchPicture, target_probability_curve, thumbnail_strip, write_gallery
from tasks.sli.protocol import CANVAS_EDGE

GALLERY = "gallery"
#: Per-sketch ``(sketches, len(local_sigmas))`` local-fidelity cosines of the classifier and of its
#: control, with the SLI objective (cross-entropy) and with the logit-margin objective.
_LOCAL, _CONTROL_LOCAL = "local_by_sigma", "control_local_by_sigma"
_MARGIN, _CONTROL_MARGIN = "margin_by_sigma", "control_margin_by_sigma"
#: Per-sketch ``(sketches, len(local_sigmas))`` layout preferences of the classifier and of its control.
_PREFERENCE, _CONTROL_PREFERENCE = "preference_by_sigma", "control_preference_by_sigma"
_LOCAL_COLUMNS = (_LOCAL, _CONTROL_LOCAL, _MARGIN, _CONTROL_MARGIN, _PREFERENCE, _CONTROL_PREFERENCE)
#: The report's thumbnail strip of the run (a few pictured sketches, before and after) and the per-step
#: target probability column behind the record curve ``sli_target_probability``.
THUMBNAILS, _CURVE = "thumbnails.svg", "p_target_curve"
#: Sub-streams of the run seed (start locations and targets use theirs inside tasks.sli.inversion).
_PICTURE_STREAM = 4
#: Per-sketch columns gathered from every rank (the rows of ``per_sketch.jsonl``).
_COMMON_COLUMNS = ("index", "label", "target", "num_strokes", "pred_before", "pred_after", "p_target_before",
                   "p_target_after", "steps_taken")
_RECOVERY = ("location_error_before", "location_error_after", "fidelity", "aligned_error_before",
             "aligned_error_after", "aligned_fidelity", "chamfer_before", "chamfer_after", "steps_to_correct",
             "control_location_error_after", "control_aligned_error_after", "strokes_recovered",
             "control_strokes_recovered")
_TRANSFER = ("steps_to_flip", "displacement", "p_original_before", "p_original_after", "on_canvas")
#: Columns of the random-weights control's inversion (same sketches, starts and targets).
_CONTROL = ("control_pred_after", "control_p_target_after")
_INT_COLUMNS = frozenset({"index", "label", "target", "num_strokes", "pred_before", "pred_after", "steps_taken",
                          "control_pred_after"})


@dataclass
class _Plan:
    protocol: Protocol
    indices: np.ndarray  # the sample of the split, sorted
    pictures: set[int]
    fixed_target: int | None = None


def run_recovery(ctx) -> TaskResult:
    return _run(ctx, transfer=False)


def run_transfer(ctx) -> TaskResult:
    return _run(ctx, transfer=True)


def resolve_target(name, categories: list[str], dataset: str) -> int:
    """The class index of ``--set target=NAME``."""
    if str(name) not in categories:
        raise unknown_name("category", str(name), categories,
                           hint=f"(task.target must name a category of dataset {dataset!r})")
    return categories.index(str(name))


def _plan(ctx, transfer: bool) -> _Plan:
    cfg = ctx.task_config
    protocol = Protocol.from_config(cfg)
    split = ctx.data.split(cfg["split"])
    candidates = np.arange(len(split))
    fixed = None
    if transfer:
        if len(ctx.data.categories) < 2:
            raise BenchError(f"sli_transfer needs at least two categories; dataset {ctx.data.name!r} has "
                             f"{len(ctx.data.categories)}")
        if cfg["target"] is not None:
            fixed = resolve_target(cfg["target"], ctx.data.categories, ctx.data.name)
            candidates = candidates[np.asarray(split.labels) != fixed]  # sketches of the target class are no transfer
    if len(candidates) == 0:
        raise BenchError(f"split {cfg['split']!r} of dataset {ctx.data.name!r} has no sketch to invert")
    indices = select_sketches(candidates, cfg["max_sketches"], ctx.seed)
    rng = np.random.default_rng([ctx.seed, _PICTURE_STREAM])
    pictures = set(rng.choice(indices, size=min(cfg["pictures"], len(indices)), replace=False).tolist())
    return _Plan(protocol, indices, pictures, fixed)


def _shapes(batch) -> list[list[np.ndarray]]:
    """Per sketch, its real strokes relative to their start points (what the model saw)."""
    rel = batch.points(torch.zeros_like(batch.locations)).cpu().numpy().astype(np.float64)
    point_mask = batch.point_mask.cpu().numpy()
    counts = batch.num_strokes.cpu().numpy()
    return [[rel[b, s, point_mask[b, s]] for s in range(counts[b])] for b in range(batch.size)]


def _recovery_rows(shapes, true, start, inv: Inversion, control: Inversion) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in _RECOVERY}
    final = inv.final.numpy().astype(np.float64)
    control_final = control.final.numpy().astype(np.float64)
    for b, sketch in enumerate(shapes):
        n = len(sketch)
        t, s, f = true[b, :n], start[b, :n], final[b, :n]
        out["control_location_error_after"].append(sm.location_error(control_final[b, :n], t))
        out["control_aligned_error_after"].append(sm.aligned_error(control_final[b, :n], t))
        out["strokes_recovered"].append(sm.strokes_recovered(f, t))
        out["control_strokes_recovered"].append(sm.strokes_recovered(control_final[b, :n], t))
        before, after = sm.location_error(s, t), sm.location_error(f, t)
        original = sm.place(sketch, t)
        out["location_error_before"].append(before)
        out["location_error_after"].append(after)
        out["fidelity"].append(sm.fidelity(before, after))
        aligned_before, aligned_after = sm.aligned_error(s, t), sm.aligned_error(f, t)
        out["aligned_error_before"].append(aligned_before)
        out["aligned_error_after"].append(aligned_after)
        out["aligned_fidelity"].append(sm.fidelity(aligned_before, aligned_after))
        out["chamfer_before"].append(sm.chamfer(sm.place(sketch, s), original))
        out["chamfer_after"].append(sm.chamfer(sm.place(sketch, f), original))
        out["steps_to_correct"].append(sm.first_step(int(inv.hit_step[b])))
    return out


def _transfer_rows(shapes, true, inv: Inversion, labels) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in _TRANSFER}
    first_hit = inv.first_hit.numpy().astype(np.float64)
    final = inv.final.numpy().astype(np.float64)
    for b, sketch in enumerate(shapes):
        n = len(sketch)
        hit = int(inv.hit_step[b])
        out["on_canvas"].append(float(np.abs(sm.place(sketch, final[b, :n])).max() <= CANVAS_EDGE))
        out["steps_to_flip"].append(sm.first_step(hit))
        out["displacement"].append(sm.displacement(first_hit[b, :n], true[b, :n]) if hit >= 0 else float("nan"))
        out["p_original_before"].append(float(inv.probs_before[b, labels[b]]))
        out["p_original_after"].append(float(inv.probs_after[b, labels[b]]))
    return out


def _invert_batch(ctx, plan: _Plan, model, control, batch, transfer: bool
                  ) -> tuple[dict[str, np.ndarray], list[tuple]]:
    """Invert one batch with the classifier and with its random-weights ``control`` (same starts
    and targets): its per-sketch columns and ``(index, payload)`` for its pictured sketches."""
    cfg = ctx.task_config
    index = batch.index.cpu().numpy()
    labels = batch.labels.cpu().numpy()
    if transfer:
        targets = (np.full(batch.size, plan.fixed_target) if plan.fixed_target is not None
                   else random_other_classes(labels, index, len(ctx.data.categories), ctx.seed))
        start = batch.locations
    else:
        targets = labels
        start = start_locations(batch, cfg["init"], cfg["init_scale"], ctx.seed)
    device = batch.labels.device
    record = np.isin(index, list(plan.pictures))
    # on CPU the batch is split across the run's threads (see invert_many); on a GPU it runs whole
    workers = torch.get_num_threads() if device.type == "cpu" else 1
    inv = invert_many(model, batch, start, torch.as_tensor(targets, device=device), plan.protocol,
                      torch.as_tensor(record, device=device) if record.any() else None, workers=workers)
    ctrl = invert_many(control, batch, start, torch.as_tensor(targets, device=device), plan.protocol, workers=workers)
    shapes = _shapes(batch)
    true = batch.locations.cpu().numpy().astype(np.float64)
    rows = np.arange(batch.size)
    columns = {"index": index, "label": labels, "target": targets, "num_strokes": batch.num_strokes.cpu().numpy(),
               "pred_before": inv.probs_before.argmax(1).numpy(), "pred_after": inv.probs_after.argmax(1).numpy(),
               "p_target_before": inv.probs_before[rows, targets].numpy(),
               "p_target_after": inv.probs_after[rows, targets].numpy(), "steps_taken": inv.steps_taken.numpy(),
               "control_pred_after": ctrl.probs_after.argmax(1).numpy(),
               "control_p_target_after": ctrl.probs_after[rows, targets].numpy(), _CURVE: inv.p_target.numpy()}
    columns.update(_transfer_rows(shapes, true, inv, labels) if transfer else
                   _recovery_rows(shapes, true, start.cpu().numpy().astype(np.float64), inv, ctrl))
    if not transfer:
        for key, net, objective in ((_LOCAL, model, "cross_entropy"), (_CONTROL_LOCAL, control, "cross_entropy"),
                                    (_MARGIN, model, "margin"), (_CONTROL_MARGIN, control, "margin")):
            columns[key] = local_alignment(net, batch, cfg["local_sigmas"], ctx.seed, objective)
        moved = moved_layouts(batch, cfg["local_sigmas"], ctx.seed, cfg["preference_draws"])
        for key, net in ((_PREFERENCE, model), (_CONTROL_PREFERENCE, control)):
            columns[key] = layout_preference(net, batch, moved)
    pictures = []
    for r, b in enumerate(np.flatnonzero(record)):
        n = len(shapes[b])
        pictures.append((int(index[b]), {"shapes": shapes[b], "original": true[b, :n],
                                         "trajectory": inv.trajectory[:, r, :n].numpy().astype(np.float64),
                                         "p_target": inv.p_target[b].numpy()}))
    return columns, pictures


def _run(ctx, transfer: bool) -> TaskResult:
    cfg = ctx.task_config
    plan = _plan(ctx, transfer)
    model = freeze(ctx.load_encoder(ctx.checkpoint))
    control = freeze(ctx.random_encoder())
    columns: dict[str, list] = {k: [] for k in (*_COMMON_COLUMNS, *_CONTROL, _CURVE,
                                                *(_TRANSFER if transfer else (*_RECOVERY, *_LOCAL_COLUMNS)))}
    pictured: list[tuple] = []
    started = time.perf_counter()
    with bar(ctx.dist.rank) as progress:
        job = progress.add_task(f"{'transfer' if transfer else 'recovery'} ({cfg['split']})", total=len(plan.indices))
        for batch in ctx.eval_batches(cfg["split"], cfg["batch_size"], indices=plan.indices):
            batch_columns, batch_pictures = _invert_batch(ctx, plan, model, control, batch, transfer)
            for key, values in batch_columns.items():
                columns[key].extend(np.asarray(values).tolist())
            pictured += batch_pictures
            progress.advance(job, batch.size * ctx.dist.world_size)
    local = {k: np.asarray(v, dtype=np.int64 if k in _INT_COLUMNS else np.float64) for k, v in columns.items()}
    gathered = ctx.gather(local.pop("index"), local)
    payload = np.empty(len(pictured), dtype=object)
    payload[:] = [p for _, p in pictured]
    pictures = ctx.gather(np.asarray([i for i, _ in pictured], dtype=np.int64), {"payload": payload})
    elapsed = time.perf_counter() - started
    if not ctx.dist.is_main:
        return TaskResult(metrics={})
    ctx.write_per_sketch(cfg["split"], per_sketch_rows(gathered, ctx.data.categories, transfer))
    items = _write_gallery(ctx, gathered, pictures, transfer)
    metrics = {"sketches_per_s": len(gathered["index"]) / elapsed}
    extra = {"sketches": int(len(gathered["index"])), "timings": {"sli_s": round(elapsed, 3)}}
    # report pictures (contracts: record curves, thumbnails)
    what = "target" if transfer else "true"
    extra["curves"] = {"sli_target_probability": target_probability_curve(
        gathered[_CURVE], ctx.seed, f"{ctx.spec.task}: mean {what}-class probability per step", f"p({what} class)")}
    atomic_write_text(ctx.run_dir / THUMBNAILS, thumbnail_strip(items, not transfer, f"{ctx.spec.task}: {ctx.spec.encoder}"))
    if transfer:
        extra["target"] = None if plan.fixed_target is None else ctx.data.categories[plan.fixed_target]
    else:
        extra["one_stroke_sketches"] = int((gathered["num_strokes"] == 1).sum())
        for name, values, control_values in (("sli_local_fidelity", _LOCAL, _CONTROL_LOCAL),
                                             ("sli_layout_preference", _PREFERENCE, _CONTROL_PREFERENCE)):
            extra["curves"][name] = by_noise_curve(name, gathered[values], cfg["local_sigmas"], ctx.seed,
                                                   f"{ctx.spec.task}: {BY_NOISE[name][0]} by start noise",
                                                   gathered[control_values])
    return TaskResult(metrics=metrics, artifacts={"gallery": f"{GALLERY}/index.html", "thumbnails": THUMBNAILS},
                      extra=extra)


def per_sketch_rows(g: dict[str, np.ndarray], categories: list[str], transfer: bool) -> list[dict]:
    """One row per inverted sketch: the fields the task's metrics declare and the rest worth
    keeping. ``*_reduction`` is the error removed (before - after), null where the sketch has
    nothing to recover, so that fidelity = mean(reduction) / mean(before) over the same sketches."""
    out = []
    for i, idx in enumerate(g["index"]):
        label, target = int(g["label"][i]), int(g["target"][i])
        row = {"index": int(idx), "label": label, "category": categories[label]}
        if transfer:
            row.update(target=target, target_category=categories[target])
        row.update(num_strokes=int(g["num_strokes"][i]), pred_before=int(g["pred_before"][i]),
                   pred_after=int(g["pred_after"][i]), steps_taken=int(g["steps_taken"][i]))
        row.update(control_pred_after=int(g["control_pred_after"][i]),
                   control_p_target_after=float(g["control_p_target_after"][i]))
        if transfer:
            success, control_success = bool(g["pred_after"][i] == target), bool(g["control_pred_after"][i] == target)
            row.update(success=success, success_on_canvas=success and bool(g["on_canvas"][i]),
                       control_success=control_success, transfer_skill=float(success) - float(control_success),
                       success_at_start=bool(g["pred_before"][i] == target))
            row.update({k: float(g[k][i]) for k in _TRANSFER})
            row.update(p_original_drop=float(g["p_original_before"][i] - g["p_original_after"][i]),
                       p_target_before=float(g["p_target_before"][i]), p_target_after=float(g["p_target_after"][i]))
        else:
            row.update(correct_before=bool(g["pred_before"][i] == label), correct_after=bool(g["pred_after"][i] == label),
                       p_true_before=float(g["p_target_before"][i]), p_true_after=float(g["p_target_after"][i]))
            row.update({k: float(g[k][i]) for k in _RECOVERY})
            row["control_correct_after"] = bool(g["control_pred_after"][i] == label)
            local, control_local = _nanmean(g[_LOCAL][i]), _nanmean(g[_CONTROL_LOCAL][i])
            row.update(local_alignment=local, control_local_alignment=control_local,
                       local_skill=None if local is None else local - control_local,
                       local_alignment_by_sigma=[_finite(v) for v in g[_LOCAL][i]],
                       local_margin_alignment=_nanmean(g[_MARGIN][i]),
                       control_local_margin_alignment=_nanmean(g[_CONTROL_MARGIN][i]))
            preference, control_preference = _nanmean(g[_PREFERENCE][i]), _nanmean(g[_CONTROL_PREFERENCE][i])
            row.update(layout_preference=preference, control_layout_preference=control_preference,
                       preference_skill=None if preference is None else preference - control_preference,
                       layout_preference_by_sigma=[_finite(v) for v in g[_PREFERENCE][i]])
            for errors, fidelity, skill in (("location_error", "fidelity", "skill"),
                                            ("aligned_error", "aligned_fidelity", "aligned_skill")):
                something = math.isfinite(float(g[fidelity][i]))
                before, after = float(g[f"{errors}_before"][i]), float(g[f"{errors}_after"][i])
                control_after = float(g[f"control_{errors}_after"][i])
                row[f"{errors}_reduction"] = before - after if something else None
                row[f"control_{errors}_reduction"] = before - control_after if something else None
                row[f"{skill}_reduction"] = control_after - after if something else None
        out.append(row)
    return out


def _nanmean(values) -> float | None:
    """The mean of a sketch's local cosines; ``None`` where it has none (fewer than two strokes)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size and np.isfinite(values).all() else None


def _finite(x) -> float | None:
    return float(x) if math.isfinite(float(x)) else None


#: The record curves over the start-noise sizes: name -> (what, y label, caption).
BY_NOISE = {
    "sli_local_fidelity": ("local fidelity", "cosine of the SLI step with the way back",
                           "From the true layout moved by noise of each size: does the classifier's SLI step point "
                           "back? 1: straight back (the known answer); 0: chance."),
    "sli_layout_preference": ("layout preference", "preference for the true layout",
                              "The true layout against it moved by noise of each size: does the SLI objective prefer "
                              "the true one? 1: always (the known answer); 0: no preference (blind to layout)."),
}


def by_noise_curve(name: str, values: np.ndarray, sigmas, seed: int, title: str,
                   control: np.ndarray | None = None) -> dict:
    """The record curve ``name`` (one of :data:`BY_NOISE`): per start-noise size the mean of
    ``values`` (``(sketches, len(sigmas))``) over the sketches that have one, with a seeded 95%
    bootstrap interval of the mean; with ``control`` (the random-weights control's values, same
    shape) the same for the control as the curve's ``control`` line (the report draws it beside the
    classifier's)."""
    from benchmark.stats import mean

    def means(values: np.ndarray) -> dict[str, list[float]]:
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        stats = [mean(column[np.isfinite(column)], seed=seed, resamples=1000) for column in values.T]
        return {"y": [v.value for v in stats], "lo": [v.value if v.ci_low is None else v.ci_low for v in stats],
                "hi": [v.value if v.ci_high is None else v.ci_high for v in stats]}

    out = {"x": [float(s) for s in sigmas], **means(values),
           "x_label": "start noise σ (normalised units)", "y_label": BY_NOISE[name][1], "title": title,
           "caption": BY_NOISE[name][2],
           "reference": {"x": [float(sigmas[0]), float(sigmas[-1])], "y": [0.0, 0.0], "label": "chance"}}
    if control is not None:
        out["control"] = {**means(control), "label": "random-weights control"}
    return out


def _write_gallery(ctx, g: dict[str, np.ndarray], pictures: dict[str, np.ndarray], transfer: bool
                   ) -> list[SketchPicture]:
    cats = ctx.data.categories
    steps = ctx.task_config["steps"]
    row_of = {int(idx): i for i, idx in enumerate(g["index"])}
    items = []
    for idx, data in zip(pictures["index"], pictures["payload"]):
        i = row_of[int(idx)]
        label, target = int(g["label"][i]), int(g["target"][i])
        pred_before, pred_after = int(g["pred_before"][i]), int(g["pred_after"][i])
        if transfer:
            title = f"#{int(idx)}: {cats[label]} → {cats[target]}"
            facts = [f"predicted {cats[pred_before]} before, {cats[pred_after]} after",
                     f"p({cats[target]}): {g['p_target_before'][i]:.3f} → {g['p_target_after'][i]:.3f}; "
                     f"p({cats[label]}): {g['p_original_before'][i]:.3f} → {g['p_original_after'][i]:.3f}",
                     _first_step(g["steps_to_flip"][i], f"first predicted as {cats[target]}", steps)]
        else:
            title = f"#{int(idx)}: {cats[label]}"
            facts = [f"predicted {cats[pred_before]} at the start, {cats[pred_after]} at the end",
                     f"p({cats[label]}): {g['p_target_before'][i]:.3f} → {g['p_target_after'][i]:.3f}",
                     f"location error {g['location_error_before'][i]:.3f} → {g['location_error_after'][i]:.3f} "
                     f"(fidelity {_fmt(g['fidelity'][i])}); Chamfer {g['chamfer_before'][i]:.3f} → "
                     f"{g['chamfer_after'][i]:.3f}",
                     _first_step(g["steps_to_correct"][i], "first predicted correctly", steps)]
        items.append(SketchPicture(int(idx), title, data["shapes"], data["original"], data["trajectory"], facts,
                                   data["p_target"]))
    spec = ctx.spec
    cfg = ctx.task_config
    notes = [f"run {spec.run_id}; encoder {spec.encoder}; dataset {ctx.data.name}; split {cfg['split']}; "
             f"seed {spec.seed}; {cfg['steps']} steps of {cfg['optimizer']} (lr {cfg['lr']})",
             f"{len(items)} of {len(g['index'])} inverted sketches shown", *ctx.notes]
    write_gallery(ctx.run_dir / GALLERY, items, f"{spec.task}: {spec.encoder} on {ctx.data.name}", notes,
                  show_start=not transfer, animation_frames=cfg["animation_frames"])
    return items


def _first_step(x, what: str, steps: int) -> str:
    if not math.isfinite(float(x)):
        return f"not {what.removeprefix('first ')} within the {steps} steps"
    return f"{what} at step {int(x)}" + (" (from the start)" if int(x) == 0 else "")


def _fmt(x) -> str:
    return "n/a" if not math.isfinite(float(x)) else f"{float(x):.3f}"
