"""Batched stroke location inversion (torch; imported only when an SLI task runs).

:func:`invert` optimises the stroke start points of a whole batch at once while keeping every
sketch's optimisation its own: each sketch has its own cross-entropy term (the loss is their sum,
so gradients never mix), its own gradient-norm clipping (over its own real strokes), the same
learning-rate schedule, and its own early stopping (a mask that freezes finished sketches). Padded
strokes' locations stay zero and get no update. A batch therefore gives the same result as
optimising each sketch alone, within float tolerance. :func:`invert_many` runs :func:`invert` on
sub-batches of similar stroke counts so that padding costs little.

:func:`invert_published` is the published protocol as released (one sketch, ``torch.optim`` SGD,
cosine annealing, ``clip_grad_norm_``, a full forward pass every step): the baseline of
:mod:`tasks.sli.perf.batched` and the reference the tests hold :func:`invert` to.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.batch import StrokeBatch, padding_chunks
from benchmark.model import EncoderModule
from tasks.sli.protocol import Protocol

#: As ``torch.nn.utils.clip_grad_norm_``: ``coef = max_norm / (norm + eps)``, at most 1.
CLIP_EPS = 1e-6
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: Fixed cost of one optimisation step of a (sub-)batch, in stroke tokens (see :func:`padding_chunks`).
CHUNK_OVERHEAD_TOKENS = 48


@dataclass
class Inversion:
    """Outcome of :func:`invert` for ``B`` sketches (tensors on CPU).

    ``final``: ``(B, S, 2)`` locations at the end (when a sketch stopped early: where it stopped);
    ``first_hit``: locations at the first evaluation whose top-1 class was the target (NaN where
    it never was); ``hit_step``: that evaluation's step (0 = before any update; -1 = never);
    ``steps_taken``: updates applied to each sketch; ``probs_before`` / ``probs_after``: ``(B, C)``
    class probabilities at the start and at the end; ``p_target``: ``(B, steps + 1)`` target-class
    probability at every evaluation (a stopped sketch keeps its last value); ``trajectory``:
    ``(steps + 1, R, S, 2)`` locations at every evaluation for the ``record`` rows (else ``None``).
    """

    final: torch.Tensor
    first_hit: torch.Tensor
    hit_step: torch.Tensor
    steps_taken: torch.Tensor
    probs_before: torch.Tensor
    probs_after: torch.Tensor
    p_target: torch.Tensor
    trajectory: torch.Tensor | None = None


def invert(model: EncoderModule, batch: StrokeBatch, start: torch.Tensor, targets: torch.Tensor,
           protocol: Protocol, record: torch.Tensor | None = None) -> Inversion:
    """Optimise the start locations of every sketch of ``batch`` from ``start`` ``(B, S, 2)`` toward
    ``targets`` ``(B,)`` with the frozen ``model`` (see :func:`freeze`); ``record`` (bool ``(B,)``)
    selects sketches whose whole trajectory is kept."""
    B = batch.size
    steps = protocol.steps
    real = batch.stroke_mask.unsqueeze(-1)
    loc = torch.where(real, start.to(batch.locations.dtype), 0).detach()
    prepared = model.prepare_sli(batch)
    rows = torch.arange(B, device=loc.device)
    active = torch.ones(B, dtype=torch.bool, device=loc.device)
    hit_step = torch.full((B,), -1, dtype=torch.long, device=loc.device)
    steps_taken = torch.zeros(B, dtype=torch.long, device=loc.device)
    first_hit = torch.full_like(loc, float("nan"))
    p_target = torch.empty(B, steps + 1, device=loc.device)
    probs_before = probs_after = None
    frames = []
    moment = torch.zeros_like(loc) if protocol.optimizer == "adam" else None
    second = torch.zeros_like(loc) if protocol.optimizer == "adam" else None
    for step in range(steps + 1):
        if record is not None:
            frames.append(loc[record])  # boolean indexing copies
        optimising = step < steps
        x = loc.clone().requires_grad_(optimising)
        with torch.set_grad_enabled(optimising), torch.autocast(loc.device.type, dtype=torch.bfloat16,
                                                                 enabled=protocol.precision == "bfloat16"):
            logits = model.forward_sli(prepared, x)
            loss = F.cross_entropy(logits.float(), targets, reduction="none")
        probs = logits.detach().float().softmax(-1)
        p = probs[rows, targets]
        # sketches still running record this evaluation; stopped ones keep their last values
        p_target[:, step] = p if step == 0 else torch.where(active, p, p_target[:, step - 1])
        if step == 0:
            probs_before = probs.clone()
            probs_after = probs.clone()
        else:
            probs_after = torch.where(active.unsqueeze(1), probs, probs_after)
        hit = active & (hit_step < 0) & (probs.argmax(-1) == targets)
        hit_step = torch.where(hit, step, hit_step)
        first_hit = torch.where(hit[:, None, None], loc, first_hit)
        if protocol.early_stop_probability is not None:
            active = active & (p < protocol.early_stop_probability)
            if not bool(active.any()):  # a device sync, so only where sketches can stop
                break
        if not optimising:
            break
        (grad,) = torch.autograd.grad((loss * active).sum(), x)
        grad = torch.where(real, grad, 0)
        norm = grad.flatten(1).norm(dim=1)
        coef = (protocol.clip_norm / (norm + CLIP_EPS)).clamp(max=1.0)
        grad = grad * coef[:, None, None]
        moved = _update(protocol, step, loc, grad, moment, second)
        if protocol.canvas is not None:
            moved = moved.clamp(-protocol.canvas, protocol.canvas)
        loc = torch.where(active[:, None, None], moved, loc)
        steps_taken += active.long()
    if record is not None:
        while len(frames) < steps + 1:  # everyone stopped early: the rest of the trajectory is still
            frames.append(frames[-1])
    p_target[:, step + 1:] = p_target[:, step:step + 1]
    return Inversion(final=loc.cpu(), first_hit=first_hit.cpu(), hit_step=hit_step.cpu(),
                     steps_taken=steps_taken.cpu(), probs_before=probs_before.cpu(), probs_after=probs_after.cpu(),
                     p_target=p_target.cpu(), trajectory=torch.stack(frames).cpu() if record is not None else None)


def invert_many(model: EncoderModule, batch: StrokeBatch, start: torch.Tensor, targets: torch.Tensor,
                protocol: Protocol, record: torch.Tensor | None = None,
                overhead_tokens: int = CHUNK_OVERHEAD_TOKENS, workers: int = 1) -> Inversion:
    """:func:`invert` on sub-batches of similar stroke counts (see :func:`padding_chunks`), each
    trimmed to its own longest sketch, so a few long sketches do not make every sketch of the
    batch pay for their padding (a model that packs strokes itself, see
    :attr:`~benchmark.model.EncoderModule.packs_strokes`, gets the batch in ``workers`` parts of
    alike stroke counts). With ``workers > 1`` the parts run in that many threads, each with one
    intra-op thread (on CPU, small operations parallelise better across sketches than within an
    operation). Same results as one :func:`invert` call, in the same row order."""
    B, S = batch.stroke_mask.shape
    recorded = np.zeros(B, dtype=bool) if record is None else record.cpu().numpy()
    slot = np.cumsum(recorded) - 1  # each recorded row's place in the trajectory
    parts = sub_batches(model, batch, overhead_tokens, workers)

    def run(rows: np.ndarray):
        sub = trim(batch.select(torch.as_tensor(rows, device=batch.labels.device)))
        n = sub.stroke_mask.shape[1]
        rec = recorded[rows]
        inv = invert(model, sub, start[torch.as_tensor(rows, device=start.device), :n],
                     targets[torch.as_tensor(rows, device=targets.device)], protocol,
                     torch.as_tensor(rec, device=batch.labels.device) if rec.any() else None)
        return rows, n, slot[rows[rec]], inv

    if workers > 1 and len(parts) > 1:
        with _one_intra_op_thread(), ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(run, parts))
    else:
        results = [run(part) for part in parts]
    return _combine(results, B, S, int(recorded.sum()) if record is not None else None)


def sub_batches(model: EncoderModule, batch: StrokeBatch, overhead_tokens: int = CHUNK_OVERHEAD_TOKENS,
                workers: int = 1) -> list[np.ndarray]:
    """The rows of ``batch`` each :func:`invert` call of :func:`invert_many` gets, in order: for a
    model that packs strokes itself, ``workers`` interleaved parts of the batch sorted by stroke
    count; else chunks of similar stroke counts (:func:`padding_chunks`)."""
    counts = batch.num_strokes.cpu().numpy()
    order = np.argsort(counts, kind="stable")
    if model.packs_strokes:
        return [order[np.arange(w, batch.size, workers)] for w in range(min(workers, batch.size))]
    return [order[part] for part in padding_chunks(counts[order], overhead_tokens)]


@contextmanager
def _one_intra_op_thread():
    """torch's intra-op threads set to one (threads started inside inherit it), then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _combine(parts, B: int, S: int, num_recorded: int | None) -> Inversion:
    """One :class:`Inversion` for ``B`` rows out of sub-batch results ``(rows, strokes, slots, inv)``."""
    first = parts[0][3]
    C, F_ = first.probs_before.shape[1], first.p_target.shape[1]
    out = Inversion(final=torch.zeros(B, S, 2), first_hit=torch.full((B, S, 2), float("nan")),
                    hit_step=torch.empty(B, dtype=torch.long), steps_taken=torch.empty(B, dtype=torch.long),
                    probs_before=torch.empty(B, C), probs_after=torch.empty(B, C), p_target=torch.empty(B, F_),
                    trajectory=None if num_recorded is None else torch.zeros(F_, num_recorded, S, 2))
    for rows, n, slots, inv in parts:
        r = torch.as_tensor(rows)
        out.final[r, :n] = inv.final
        out.first_hit[r, :n] = inv.first_hit
        out.first_hit[r, n:] = torch.where(inv.hit_step >= 0, 0.0, float("nan"))[:, None, None]  # as invert's padding
        for name in ("hit_step", "steps_taken", "probs_before", "probs_after", "p_target"):
            getattr(out, name)[r] = getattr(inv, name)
        if inv.trajectory is not None:
            out.trajectory[:, torch.as_tensor(slots), :n] = inv.trajectory
    return out


def trim(batch: StrokeBatch) -> StrokeBatch:
    """``batch`` without padding beyond its longest sketch (strokes) and longest stroke (points)."""
    S = max(int(batch.num_strokes.max()), 1)
    P = max(int(batch.point_mask.sum(-1).max()), 1)
    return batch.replace(offsets=batch.offsets[:, :S, :P], point_mask=batch.point_mask[:, :S, :P],
                         locations=batch.locations[:, :S], stroke_mask=batch.stroke_mask[:, :S],
                         order=batch.order[:, :S])


def _update(protocol: Protocol, step: int, loc, grad, moment, second) -> torch.Tensor:
    """One optimiser step on every sketch (element-wise, so sketches never interact)."""
    lr = protocol.lr_at(step)
    if protocol.optimizer == "sgd":
        return loc - lr * grad
    b1, b2 = ADAM_BETAS
    moment.mul_(b1).add_(grad, alpha=1 - b1)
    second.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    m_hat = moment / (1 - b1 ** (step + 1))
    v_hat = second / (1 - b2 ** (step + 1))
    return loc - lr * m_hat / (v_hat.sqrt() + ADAM_EPS)


def invert_published(model: EncoderModule, batch: StrokeBatch, start: torch.Tensor, target: int,
                     protocol: Protocol = Protocol()) -> torch.Tensor:
    """The published loop for one sketch (``batch`` of size 1, ``start`` ``(1, S, 2)``): SGD on the
    real strokes' locations, ``CosineAnnealingLR``, ``clip_grad_norm_`` at ``max_step / lr``, a full
    forward pass every step, all steps run. Returns the final ``(1, S, 2)`` locations."""
    if batch.size != 1 or protocol.optimizer != "sgd" or protocol.schedule != "cosine" or protocol.canvas is not None:
        raise ValueError("invert_published runs the published protocol (SGD, cosine) on one sketch")
    n = int(batch.stroke_mask[0].sum())
    loc = start[:, :n].detach().clone().requires_grad_()
    optimizer = torch.optim.SGD([loc], lr=protocol.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=protocol.steps, eta_min=protocol.min_lr)
    target_t = torch.tensor([target], device=loc.device)
    for _ in range(protocol.steps):
        padded = torch.nn.functional.pad(loc, (0, 0, 0, batch.stroke_mask.shape[1] - n))
        loss = F.cross_entropy(model(batch.replace(locations=padded)), target_t)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([loc], protocol.clip_norm)
        optimizer.step()
        scheduler.step()
    return torch.nn.functional.pad(loc.detach(), (0, 0, 0, batch.stroke_mask.shape[1] - n))


def random_other_classes(labels: np.ndarray, indices: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """A class other than its label for each sketch, from a generator seeded by ``(seed, index)``."""
    out = np.empty(len(labels), dtype=np.int64)
    for i, (label, index) in enumerate(zip(labels, indices)):
        pick = int(np.random.default_rng([seed, int(index), 1]).integers(num_classes - 1))
        out[i] = pick + (pick >= label)
    return out
