"""``location_gradient``: each stroke scored by how strongly the target logit responds to moving it.

The score of stroke ``s`` is ``|d logit_target / d location_s|`` (the L1 norm over ``x, y`` of the
gradient at the stroke's start point): a layout-sensitivity explainer, the attribution analogue of
stroke location inversion. It needs logits differentiable in ``batch.locations`` (capability
``gradients``); the attribution tasks run it beside the controls and rank it on their boards.
"""

from typing import ClassVar

from benchmark import GRADIENTS, Explainer, hookimpl


class LocationGradient(Explainer):
    name = "location_gradient"
    description = "|d target logit / d stroke start location| (L1 over x, y)"
    version = "1"
    requires: ClassVar[frozenset[str]] = frozenset({GRADIENTS})

    def attribute(self, model, batch, targets):
        """``(B, S)`` scores, 0 on padded strokes (the contract of ``Explainer.attribute``)."""
        import torch

        locations = batch.locations.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(batch.replace(locations=locations))
            (grad,) = torch.autograd.grad(logits.gather(1, targets.view(-1, 1)).sum(), locations, allow_unused=True)
        if grad is None:  # a classifier that ignores locations: every stroke scores 0
            return torch.zeros(batch.stroke_mask.shape, device=batch.stroke_mask.device)
        return grad.abs().sum(-1) * batch.stroke_mask


@hookimpl
def bench_register_explainers(register):
    register(LocationGradient)
