"""Built-in explainers (light module: torch is imported only by ``attribute``), registered by the
built-in tasks plugin through ``bench_register_explainers``.

Every explainer scores the strokes of a frozen classifier's input for a target class; "removing" a
stroke always means :func:`benchmark.removal.remove_strokes` (not drawn, not tokenised, not
rasterised). Removal-based explainers score with the target-class *probability* ``v(S)`` of the
sketch drawn with only the strokes ``S``; gradient explainers differentiate the target *logit*.
"""

from __future__ import annotations

from typing import Any, ClassVar

from benchmark import ATTENTION, GRADIENTS, Explainer
from benchmark.config import check_number

#: Sketch variants evaluated per forward pass by the removal-based explainers (memory, not results).
CHUNK = 512


class RandomExplainer(Explainer):
    """Control: uniform random scores, seeded per sketch (independent of the model)."""

    name = "random"
    description = "control: uniform random stroke scores, seeded per sketch (ignores the model)"
    control = True

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers.occlusion import random_scores

        return random_scores(batch, self.seed)


class _BlindControl(Explainer):
    """A model-blind control (:mod:`tasks.attribution.explainers.blind`): a stroke statistic that
    never calls the model."""

    control = True
    statistic = ""

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers import blind

        return getattr(blind, self.statistic)(batch)


class StrokeLengthControl(_BlindControl):
    name = "stroke_length"
    description = "control: each stroke's arc length (ignores the model)"
    statistic = "stroke_length"


class PointCountControl(_BlindControl):
    name = "point_count"
    description = "control: each stroke's number of points (ignores the model)"
    statistic = "point_count"


class DrawingOrderControl(_BlindControl):
    name = "drawing_order"
    description = "control: each stroke's position in the drawing order, later higher (ignores the model)"
    statistic = "drawing_order"


class CentreDistanceControl(_BlindControl):
    name = "centre_distance"
    description = "control: distance of each stroke's centroid to the sketch's centre (ignores the model)"
    statistic = "centre_distance"


#: The model-blind controls beside ``random``.
BLIND_CONTROLS = (StrokeLengthControl, PointCountControl, DrawingOrderControl, CentreDistanceControl)


class OcclusionExplainer(Explainer):
    """Leave one stroke out: ``v(all) - v(all without the stroke)``, every stroke of every sketch of
    the batch evaluated together in chunks of ``chunk`` variants."""

    name = "occlusion"
    description = "leave-one-stroke-out drop in target probability, batched over all strokes"
    defaults: ClassVar[dict[str, Any]] = {"chunk": CHUNK}

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        check_number("explainer.chunk", cls.full_config(config)["chunk"], whole=True, least=1)

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers.occlusion import occlusion

        return occlusion(model, batch, targets, self.config["chunk"])


class ShapleyExplainer(Explainer):
    """Shapley values of the strokes for ``v`` (target probability of the sketch with a subset of
    its strokes): exact (all ``2^n`` subsets) for sketches of at most ``max_exact`` strokes, else
    ``samples`` random stroke orders (antithetic pairs), seeded per sketch. Both satisfy
    efficiency: the scores sum to ``v(all) - v(none)``."""

    name = "shapley"
    description = "stroke Shapley values of the target probability: exact up to max_exact strokes, sampled above"
    defaults: ClassVar[dict[str, Any]] = {"max_exact": 10, "samples": 64, "chunk": CHUNK}

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        full = cls.full_config(config)
        check_number("explainer.max_exact", full["max_exact"], whole=True, least=1, most=16)
        check_number("explainer.samples", full["samples"], whole=True, least=2)
        check_number("explainer.chunk", full["chunk"], whole=True, least=1)

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers.shapley import shapley

        return shapley(model, batch, targets, self.seed, **self.config)


class GradientExplainer(Explainer):
    """Saliency: sum of absolute gradients of the target logit over a stroke's point deltas
    ``(dx, dy)`` and its start location."""

    name = "gradient"
    description = "sum of |d logit / d input| over each stroke's point deltas and start location"
    requires = frozenset({GRADIENTS})

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers.gradients import gradient

        return gradient(model, batch, targets)


class GradientXInputExplainer(Explainer):
    """Gradient times input, summed over a stroke's point deltas ``(dx, dy)`` and start location."""

    name = "gradient_x_input"
    description = "sum of gradient x input over each stroke's point deltas and start location"
    requires = frozenset({GRADIENTS})

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers.gradients import gradient_x_input

        return gradient_x_input(model, batch, targets)


class IntegratedGradientsExplainer(Explainer):
    """Integrated gradients (Sundararajan et al. 2017) of the target logit, ``steps`` midpoint
    steps; baseline: every stroke shrunk to a point at the canvas centre (point deltas and start
    location 0, pen states kept). Per stroke, the sum over its deltas and location."""

    name = "integrated_gradients"
    description = "integrated gradients from every stroke shrunk to a point at the centre (documented baseline)"
    requires = frozenset({GRADIENTS})
    defaults: ClassVar[dict[str, Any]] = {"steps": 16}

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        check_number("explainer.steps", cls.full_config(config)["steps"], whole=True, least=1)

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers.gradients import integrated_gradients

        return integrated_gradients(model, batch, targets, self.config["steps"])


class AttentionRolloutExplainer(Explainer):
    """Attention rollout (Abnar & Zuidema 2020): per layer the head-averaged attention plus the
    identity (residual), rows renormalised, multiplied from the first layer up; a stroke's score is
    the classification token's rolled-out attention to it. Class-independent."""

    name = "attention_rollout"
    description = "attention rollout from the CLS token to each stroke token (stroke ViT)"
    requires = frozenset({ATTENTION})

    def attribute(self, model, batch, targets):
        from tasks.attribution.explainers.rollout import attention_rollout

        return attention_rollout(model, batch)


EXPLAINERS = (RandomExplainer, *BLIND_CONTROLS, OcclusionExplainer, ShapleyExplainer, GradientExplainer, GradientXInputExplainer,
              IntegratedGradientsExplainer, AttentionRolloutExplainer)
