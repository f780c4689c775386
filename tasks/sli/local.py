"""Local inversion fidelity (torch): does the classifier's SLI step point back to the true layout?

The published recovery starts far from the drawing (every start point drawn around the canvas
centre) and runs 100 clipped steps, so what it measures is at least as much the optimiser's basin
as the classifier's knowledge of layouts (see ``results/validation/VALIDATION.md``). This measure
asks the question locally, where the answer is known: start at the sketch's true layout with every
stroke's start point moved by normal noise of standard deviation ``sigma`` (normalised units; the
canvas is 2 wide), take the gradient of the SLI objective (cross-entropy toward the true class) with
respect to the start points, and score the cosine between the direction of the SLI step (minus the
gradient) and the direction back to the true layout, both with the global translation removed (as
:func:`tasks.sli.metrics.location_error`). 1: the step points straight back (the known-answer
classifier); 0: no more than chance (a classifier that knows nothing of layouts, e.g. random
weights, in expectation); negative: away. It is the first step of a recovery from that start: it
needs no step size, schedule or clipping, and a classifier whose probability does not change with
locations gives a zero gradient, hence 0.

A sketch's ``local_alignment`` is the mean of its cosines over the ``sigmas`` (one seeded draw
each); sketches with fewer than two strokes (nothing to recover once translation is removed) are
NaN. Noise draws are seeded by ``(seed, index, stream, k)``, so they do not depend on batching or on
the number of processes.

**Layout preference** (:func:`layout_preference`) asks the zero-order question of the same
objective: does the SLI objective prefer the true layout to the true layout moved by noise? Per
noise size, ``draws`` moved layouts per sketch (the noise's mean over the sketch's strokes removed,
so the layout changes and its centroid does not), each scored +1 when the cross-entropy toward the
true class is higher there than at the true layout (the true layout preferred), -1 when lower, 0
when equal. 1: the true layout is preferred to every moved one (the known answer); 0: no
preference (a classifier blind to layout exactly; random weights in expectation). An exact
optimiser of the objective lands where it prefers: where the classifier's objective does not
prefer the true layout, no optimiser recovers it; where it does, the gradient path (local
fidelity, the published protocol) says whether SGD gets there.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.batch import StrokeBatch
from benchmark.model import EncoderModule
from tasks.sampling import per_sketch_normal

#: Random streams of the noise draws (distinct from the task's other seeded streams): the local
#: fidelity starts and the layout-preference draws.
_STREAM, _PREFERENCE_STREAM = 5, 6
#: A sketch whose gradient (translation removed) is below this norm scores 0: the classifier's
#: probability does not change with its locations.
_FLAT = 1e-12


def noisy_starts(batch: StrokeBatch, sigma: float, seed: int, k: int, stream: int = _STREAM,
                 centred: bool = False) -> torch.Tensor:
    """``(B, S, 2)``: each real stroke's true start point plus normal noise of standard deviation
    ``sigma``, drawn per sketch from a generator seeded by ``(seed, index, stream, k)``; padding zero.
    ``centred``: the noise's mean over the sketch's real strokes removed (the layout moves, its
    centroid stays)."""
    true = batch.locations.detach().cpu().numpy().astype(np.float64)
    noise = per_sketch_normal(batch, lambda index: [seed, index, stream, k], sigma)
    counts = batch.num_strokes.cpu().numpy()
    real = np.arange(true.shape[1])[None, :] < counts[:, None]
    if centred:
        noise -= (noise.sum(1, keepdims=True) / np.maximum(counts, 1)[:, None, None]) * real[..., None]
    out = np.zeros_like(true)
    out[real] = true[real] + noise[real]
    return torch.from_numpy(out).to(batch.locations.device, batch.locations.dtype)


def _objective(logits: torch.Tensor, labels: torch.Tensor, objective: str) -> torch.Tensor:
    """The summed per-sketch loss whose gradient is the SLI step (sketches' gradients never mix):
    ``cross_entropy`` (the SLI objective: minus the log-probability of the label) or ``margin``
    (minus the label's logit margin over the best other class, blind to softmax saturation)."""
    logits = logits.float()
    if objective == "cross_entropy":
        return F.cross_entropy(logits, labels, reduction="sum")
    own = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return (others - own).sum()


def step_cosines(model: EncoderModule, batch: StrokeBatch, start: torch.Tensor,
                 objective: str = "cross_entropy") -> np.ndarray:
    """``(B,)`` cosine between minus the gradient of the ``objective`` (see :func:`_objective`)
    toward each sketch's label at ``start`` and the way back to its true locations, translation
    removed; NaN for sketches with fewer than two strokes, 0 where the gradient vanishes."""
    x = start.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model.forward_sli(model.prepare_sli(batch), x)
        (grad,) = torch.autograd.grad(_objective(logits, batch.labels, objective), x)
    step = -grad.detach().cpu().numpy().astype(np.float64)
    here = start.detach().cpu().numpy().astype(np.float64)
    true = batch.locations.detach().cpu().numpy().astype(np.float64)
    out = np.full(batch.size, np.nan)
    for row, n in enumerate(batch.num_strokes.cpu().numpy()):
        if n < 2:
            continue
        back = true[row, :n] - here[row, :n]
        back -= back.mean(0)
        move = step[row, :n] - step[row, :n].mean(0)
        size, reach = np.linalg.norm(move), np.linalg.norm(back)
        out[row] = 0.0 if size < _FLAT or reach == 0 else float((move * back).sum() / (size * reach))
    return out


def local_alignment(model: EncoderModule, batch: StrokeBatch, sigmas, seed: int,
                    objective: str = "cross_entropy") -> np.ndarray:
    """``(B, len(sigmas))``: :func:`step_cosines` at one noisy start per noise size (see the module)."""
    return np.stack([step_cosines(model, batch, noisy_starts(batch, float(s), seed, k), objective)
                     for k, s in enumerate(sigmas)], axis=1)


def moved_layouts(batch: StrokeBatch, sigmas, seed: int, draws: int) -> list[list[torch.Tensor]]:
    """Per noise size, ``draws`` moved layouts of the batch: :func:`noisy_starts` with centred noise,
    draw ``k = i * draws + d`` of the preference stream (drawn once, scored by every classifier)."""
    return [[noisy_starts(batch, float(sigma), seed, i * draws + d, _PREFERENCE_STREAM, centred=True)
             for d in range(draws)] for i, sigma in enumerate(sigmas)]


def layout_preference(model: EncoderModule, batch: StrokeBatch, moved: list[list[torch.Tensor]]) -> np.ndarray:
    """``(B, len(moved))``: per noise size, the mean over its moved layouts (:func:`moved_layouts`)
    of the sign of the SLI objective's (cross-entropy toward the label) increase from the true
    layout to the moved one (see the module); NaN for sketches with fewer than two strokes."""
    with torch.no_grad():
        prepared = model.prepare_sli(batch)

        def losses(locations: torch.Tensor) -> torch.Tensor:
            logits = model.forward_sli(prepared, locations).float()
            return F.cross_entropy(logits, batch.labels, reduction="none").double()

        at_true = losses(batch.locations)
        out = np.stack([np.mean([torch.sign(losses(layout) - at_true).cpu().numpy() for layout in draws], axis=0)
                        for draws in moved], axis=1)
    out[batch.num_strokes.cpu().numpy() < 2] = np.nan
    return out
