"""Training and evaluation loops of the ``recognition`` task (torch; imported only to run)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmark import distributed
from benchmark.checkpoints import save_checkpoint
from benchmark.contracts import TaskResult
from benchmark.errors import BenchError, ResumeRefused
from benchmark.guards import check_logits, check_loss
from benchmark.optim import adamw
from benchmark.progress import bar
from tasks.recognition.recipe import resolve_recipe
from tasks.sampling import per_sketch_normal

CHECKPOINT = "checkpoint"
#: Random stream of the ``location_noise`` augmentation (distinct from the streams tasks seed).
_NOISE_STREAM = 7


def run_recognition(ctx) -> TaskResult:
    cfg = ctx.task_config
    timings: dict[str, float] = {}
    extra: dict = {}
    if ctx.checkpoint is not None:
        model = ctx.load_encoder(ctx.checkpoint)
        checkpoint_dir = Path(ctx.checkpoint)
        valid_top1 = None
        train_rate = None
        ctx.say(f"evaluating checkpoint {checkpoint_dir} (no training)")
    else:
        model, checkpoint_dir, valid_top1, train_rate, extra = train(ctx)
        timings["train_s"] = extra.pop("train_s")
    extra["parameters"] = model.num_parameters()

    started = time.perf_counter()
    out = evaluate(ctx, model, cfg["test_split"], cfg["eval_batch_size"], "test")
    eval_s = time.perf_counter() - started
    timings["eval_s"] = round(eval_s, 3)
    if not ctx.dist.is_main:
        return TaskResult(metrics={})
    labels = out["labels"]
    logits = out["logits"]
    top1 = logits.argmax(1) == labels
    k = min(5, logits.shape[1])
    topk = (np.argsort(-logits, axis=1, kind="stable")[:, :k] == labels[:, None]).any(1)
    loss = _cross_entropy(logits, labels)
    probs = torch.from_numpy(logits).double().softmax(1).numpy()
    ctx.write_per_sketch(cfg["test_split"], [
        {"index": int(idx), "label": int(labels[row]), "pred": int(logits[row].argmax()), "correct": bool(top1[row]),
         "top5": bool(topk[row]), "p_true": float(probs[row, labels[row]]), "loss": float(loss[row])}
        for row, idx in enumerate(out["index"])])
    metrics = {"eval_sketches_per_s": len(labels) / eval_s}
    if valid_top1 is not None:
        metrics["valid_top1"] = valid_top1
    if train_rate is not None:
        metrics["train_sketches_per_s"] = train_rate
    artifacts = {}
    if checkpoint_dir.is_relative_to(ctx.run_dir):
        artifacts["checkpoint"] = str(checkpoint_dir.relative_to(ctx.run_dir))
    extra["timings"] = timings
    return TaskResult(metrics=metrics, artifacts=artifacts, extra=extra)


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(logits).double()
    return F.cross_entropy(t, torch.from_numpy(labels), reduction="none").numpy()


@torch.no_grad()
def evaluate(ctx, model, split: str, batch_size: int, label: str) -> dict[str, np.ndarray] | None:
    """Logits and labels of every sketch of ``split`` (exact over ranks), on rank 0."""
    model.eval()
    indices, logits, labels = [np.zeros(0, np.int64)], [np.zeros((0, model.num_classes), np.float32)], \
        [np.zeros(0, np.int64)]
    n = len(ctx.data.split(split))
    if n == 0:
        raise BenchError(f"split {split!r} of dataset {ctx.data.name!r} is empty")
    with bar(ctx.dist.rank) as progress:
        job = progress.add_task(f"{label} ({split})", total=n)
        for batch in ctx.eval_batches(split, batch_size):
            out = model(batch)
            check_logits(ctx, out, batch, model.num_classes)
            logits.append(out.float().cpu().numpy())
            labels.append(batch.labels.cpu().numpy())
            indices.append(batch.index.cpu().numpy())
            progress.advance(job, batch.size * ctx.dist.world_size)
    return ctx.gather(np.concatenate(indices), {"logits": np.concatenate(logits), "labels": np.concatenate(labels)})


def _schedule(cfg, total_steps: int):
    warmup = int(cfg["warmup_fraction"] * total_steps)
    kind = cfg["schedule"]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def train(ctx):
    """Train with AdamW and a cosine schedule, keeping the epoch best on valid; resumable."""
    cfg = ctx.task_config
    model = ctx.build_encoder()
    net = model
    if ctx.dist.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    steps_per_epoch = ctx.train_steps("train", cfg["batch_size"])
    recipe = resolve_recipe(cfg, steps_per_epoch)
    epochs = recipe["epochs"]
    ctx.say(f"recipe {recipe['name']}: {epochs} epochs ({recipe['epochs_from']}) of {steps_per_epoch} steps, "
            f"lr {recipe['lr']:g} ({recipe['lr_from']})")
    optimizer = adamw(model.parameters(), lr=recipe["lr"], weight_decay=cfg["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg, steps_per_epoch * epochs))
    best = {"valid_top1": -1.0, "epoch": -1}
    start_epoch, train_s, seen = 0, 0.0, 0
    checkpoint_dir = ctx.run_dir / CHECKPOINT
    if distributed.broadcast_object(ctx.dist, ctx.spec.resume and _has_state(ctx)):
        best, start_epoch, train_s, seen = _restore(ctx, model, optimizer, scheduler)
        ctx.say(f"resuming after epoch {start_epoch} of {epochs}")
    for epoch in range(start_epoch, epochs):
        net.train()
        started = time.perf_counter()
        total_loss, count = 0.0, 0
        with bar(ctx.dist.rank) as progress:
            job = progress.add_task(f"epoch {epoch + 1}/{epochs}", total=steps_per_epoch)
            for step, (batch, global_size) in enumerate(
                    ctx.train_batches("train", cfg["batch_size"], epoch, cfg["bucket_batches"])):
                if cfg["location_noise"]:
                    batch = jitter_locations(batch, cfg["location_noise"], ctx.seed, epoch)
                logits = net(batch)
                if step == 0:
                    check_logits(ctx, logits, batch, len(ctx.data.categories))
                loss_sum = F.cross_entropy(logits, batch.labels, reduction="sum")
                # DDP averages gradients over ranks: this scaling makes them the global batch's mean
                loss = loss_sum * ctx.dist.world_size / global_size
                # every rank checks its own share; a non-finite loss on any rank stops them all
                check_loss(loss_sum.item() / max(batch.size, 1), epoch, step, scheduler.get_last_lr()[0],
                           f"{ctx.spec.task}.lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total_loss += loss_sum.item()
                count += batch.size
                progress.advance(job)
        epoch_s = time.perf_counter() - started
        train_s += epoch_s
        totals = distributed.all_reduce_sum(ctx.dist, np.array([total_loss, count]))
        check_loss(float(totals[0] / max(totals[1], 1)), epoch, steps_per_epoch - 1, scheduler.get_last_lr()[0],
                   f"{ctx.spec.task}.lr")
        seen += int(totals[1])
        valid = evaluate(ctx, model, cfg["valid_split"], cfg["eval_batch_size"], "valid")
        improved = False
        if ctx.dist.is_main:
            valid_top1 = float((valid["logits"].argmax(1) == valid["labels"]).mean())
            improved = valid_top1 > best["valid_top1"]
            if improved:
                best = {"valid_top1": valid_top1, "epoch": epoch}
                save_checkpoint(checkpoint_dir, ctx.encoder_cls.name, ctx.encoder_cls.version, model,
                                ctx.encoder_config, ctx.data.categories,
                                {"run_id": ctx.spec.run_id, "epoch": epoch, "valid_top1": valid_top1,
                                 "selected_on": cfg["valid_split"]})
            ctx.log_metrics({"epoch": epoch + 1, "train_loss": totals[0] / max(totals[1], 1),
                             "valid_top1": valid_top1, "lr": scheduler.get_last_lr()[0],
                             "epoch_s": epoch_s}, step=epoch + 1)
            ctx.say(f"epoch {epoch + 1}/{epochs}: train loss {totals[0] / max(totals[1], 1):.4f}, "
                    f"valid top-1 {valid_top1:.4f}{' (best)' if improved else ''}, {epoch_s:.1f}s")
        best = distributed.broadcast_object(ctx.dist, best)
        _save_state(ctx, model, optimizer, scheduler, best, epoch, train_s, seen)
    distributed.barrier(ctx.dist)
    best_model = ctx.load_encoder(checkpoint_dir)
    _drop_state(ctx)
    extra = {"best_epoch": best["epoch"] + 1, "epochs": epochs, "recipe": recipe, "train_s": round(train_s, 3),
             "train_samples_seen": seen}
    return best_model, checkpoint_dir, best["valid_top1"], seen / train_s if train_s else None, extra


def jitter_locations(batch, sigma: float, seed: int, epoch: int):
    """``batch`` with every real stroke's start point moved by normal noise of standard deviation
    ``sigma`` (the ``location_noise`` augmentation), each sketch's noise drawn from a generator seeded
    by ``(seed, epoch, index)``: the same whatever the batching or the number of processes."""
    true = batch.locations
    noise = per_sketch_normal(batch, lambda index: [seed, epoch, index, _NOISE_STREAM], sigma).astype(np.float32)
    return batch.replace(locations=true + torch.from_numpy(noise).to(true.device, true.dtype))


def _state_file(ctx, name: str) -> Path:
    return ctx.state_dir / name


def _save_state(ctx, model, optimizer, scheduler, best, epoch, train_s, seen) -> None:
    """Everything needed to continue after ``epoch``: weights, optimiser, schedule, RNG (per rank)."""
    if ctx.dist.is_main:
        ctx.state_dir.mkdir(parents=True, exist_ok=True)
        _atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "best": best, "epoch": epoch,
                            "train_s": train_s, "seen": seen}, _state_file(ctx, "train.pt"))
    distributed.barrier(ctx.dist)
    _atomic_torch_save(torch.get_rng_state(), _state_file(ctx, f"rng-rank{ctx.dist.rank}.pt"))
    distributed.barrier(ctx.dist)


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _has_state(ctx) -> bool:
    return ctx.dist.is_main and _state_file(ctx, "train.pt").is_file()


def _restore(ctx, model, optimizer, scheduler) -> tuple[dict, int, float, int]:
    """Load the saved state into ``model``, ``optimizer``, ``scheduler`` and the RNG (a rank without saved
    RNG state, a resume with more processes, is reseeded); returns ``best``, the first epoch to run, the
    training seconds and samples so far. A state file that cannot be read or does not fit raises
    :class:`ResumeRefused` naming it, before anything in the run folder changed."""
    path = _state_file(ctx, "train.pt")
    state = _safe_torch_load(ctx, path, map_location=ctx.device)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        out = dict(state["best"]), int(state["epoch"]) + 1, float(state["train_s"]), int(state["seen"])
    except Exception as exc:  # noqa: BLE001 - KeyError, shape mismatch, wrong types: not this run's state
        raise _refused(ctx, path, exc) from None
    rng = _state_file(ctx, f"rng-rank{ctx.dist.rank}.pt")
    if rng.is_file():
        rng_state = _safe_torch_load(ctx, rng)
    else:
        rng_state = torch.Generator().manual_seed(ctx.seed * 1000 + (out[1] - 1) * 10 + ctx.dist.rank).get_state()
    try:
        torch.set_rng_state(rng_state)
    except Exception as exc:  # noqa: BLE001 - not an RNG state
        raise _refused(ctx, rng, exc) from None
    return out


def _safe_torch_load(ctx, path: Path, map_location=None):
    """A state file read with ``weights_only=True``: tensors, numbers, strings and containers only,
    so a crafted file cannot run code; anything else is a one-line :class:`ResumeRefused` naming the file."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError (truncated zip), EOFError...
        raise _refused(ctx, path, exc) from None


def _refused(ctx, path: Path, exc: Exception) -> ResumeRefused:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ResumeRefused(f"{path}: refused to resume from this state file ({type(exc).__name__}: {reason[:200]}); "
                         f"it is corrupt or not written by sketchxai-bench; {ctx.run_dir} is kept as it was: "
                         f"run without --resume to start a new run (or delete {path.parent} to restart this one)")


def _drop_state(ctx) -> None:
    distributed.barrier(ctx.dist)
    if ctx.dist.is_main:
        import shutil

        shutil.rmtree(ctx.state_dir, ignore_errors=True)
