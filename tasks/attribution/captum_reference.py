"""Captum's implementation of each stroke attribution method, on our stroke semantics: the
reference the built-in explainers are tested against (``tests/test_captum_parity.py``) and the
baseline ``bench perf attribution`` times them beside.

Captum (``pip install captum``; optional, in the ``test`` extra) perturbs input tensors, while a
stroke is a ragged group of point deltas plus a start location and removing one goes through
:func:`benchmark.removal.remove_strokes`. So:

- the gradient methods (``Saliency``, ``InputXGradient``, ``IntegratedGradients``) take the point
  deltas ``(B, S, P, 2)`` and the start locations ``(B, S, 2)`` as inputs (pen states and masks
  ride along as additional forward arguments) and their attributions are summed per stroke, as
  ours are;
- the removal methods (``FeatureAblation`` for occlusion, ``ShapleyValues`` for exact Shapley)
  take a stroke *presence* input ``(B, S)`` (1 = drawn) with one feature per stroke and baseline
  0: the forward function draws the sketch with the present strokes only and returns the target
  probability, so "ablating" a stroke is removing it.
"""

from __future__ import annotations

import torch

from benchmark.batch import StrokeBatch
from benchmark.removal import remove_strokes

METHODS = ("gradient", "gradient_x_input", "integrated_gradients", "occlusion", "shapley")


def _per_stroke(batch: StrokeBatch, deltas: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    points = (deltas.sum(-1) * batch.point_mask).sum(-1)
    return ((points + locations.sum(-1)) * batch.stroke_mask).float()


def _gradient_forward(model, batch: StrokeBatch):
    def forward(deltas, locations, pen, point_mask, stroke_mask, order):
        variant = StrokeBatch(torch.cat([deltas, pen], -1), point_mask, locations, stroke_mask, order,
                              torch.zeros(len(deltas), dtype=torch.long, device=deltas.device),
                              torch.arange(len(deltas), device=deltas.device))
        return model(variant)

    extra = (batch.offsets[..., 2:], batch.point_mask, batch.stroke_mask, batch.order)
    return forward, extra


def _presence_forward(model, batch: StrokeBatch, targets: torch.Tensor):
    def forward(presence):
        rows = torch.arange(len(presence), device=presence.device) % batch.size
        keep = (presence > 0.5) & batch.stroke_mask[rows]
        variant = remove_strokes(batch.select(rows), keep)
        return model(variant).float().softmax(-1).gather(1, targets[rows].view(-1, 1)).squeeze(1)

    return forward


def captum_scores(method: str, model, batch: StrokeBatch, targets: torch.Tensor, steps: int = 16,
                  perturbations_per_eval: int = 1) -> torch.Tensor:
    """``(B, S)`` stroke scores of ``method`` (one of :data:`METHODS`) computed by Captum."""
    from captum import attr

    if method in ("gradient", "gradient_x_input", "integrated_gradients"):
        forward, extra = _gradient_forward(model, batch)
        inputs = (batch.offsets[..., :2].detach().clone(), batch.locations.detach().clone())
        with torch.enable_grad():
            if method == "gradient":
                out = attr.Saliency(forward).attribute(inputs, target=targets, abs=True, additional_forward_args=extra)
            elif method == "gradient_x_input":
                out = attr.InputXGradient(forward).attribute(inputs, target=targets, additional_forward_args=extra)
            else:
                out = attr.IntegratedGradients(forward).attribute(
                    inputs, baselines=tuple(torch.zeros_like(x) for x in inputs), target=targets,
                    additional_forward_args=extra, n_steps=steps, method="riemann_middle")
        return _per_stroke(batch, *out)
    presence = batch.stroke_mask.float()
    mask = torch.arange(presence.shape[1], device=presence.device).repeat(len(presence), 1)
    forward = _presence_forward(model, batch, targets)
    with torch.no_grad():
        if method == "occlusion":
            out = attr.FeatureAblation(forward).attribute(presence, baselines=0.0, feature_mask=mask,
                                                          perturbations_per_eval=perturbations_per_eval)
        elif method == "shapley":
            out = attr.ShapleyValues(forward).attribute(presence, baselines=0.0, feature_mask=mask,
                                                        perturbations_per_eval=perturbations_per_eval)
        else:
            raise ValueError(f"no Captum reference for {method!r}; one of {', '.join(METHODS)}")
    return (out * batch.stroke_mask).float()
