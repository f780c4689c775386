"""An outside one-file explainer plugin that never looks at the model: each stroke scored by its
length (the heuristic that topped the old pointing board). On a valid pointing set it is at chance."""

from benchmark import Explainer, hookimpl


class LengthHeuristic(Explainer):
    name = "length_heuristic"
    description = "stroke arc length (ignores the model)"

    def attribute(self, model, batch, targets):
        steps = batch.offsets[..., :2].norm(dim=-1) * batch.point_mask
        return steps.sum(-1) * batch.stroke_mask


@hookimpl
def bench_register_explainers(register):
    register(LengthHeuristic)
