"""A one-file plugin (``bench --plugin tasks/validation/known_answer.py``) with the known-answer classifier of
the measure-validation ladder (:mod:`tasks.validation`): ``known_answer``.

It is not a sketch classifier anyone would train: it is told the answer. Its logits for a sketch
whose strokes' true start points are ``L*`` and true class ``y``, at start points ``L``, are
``-scale * mean_i |L_i - L*_i|^2`` for class ``y`` and ``-margin`` for every other class. So it is
right at the true layout, its true-class probability peaks exactly there, and it relies on
locations completely; a measure of SLI or of location reliance must rank it first. The true layout
and class are the batch's own (``forward``) or those of the batch given to :meth:`prepare_sli`
(SLI and ``location_reliance`` prepare on the true sketch, then move its strokes).
"""

from __future__ import annotations

from benchmark import SLI, Encoder, hookimpl


class KnownAnswer(Encoder):
    """Known-answer classifier: true-class logit -scale * mean squared distance to the true start points."""

    name = "known_answer"
    version = "1"
    description = "Validation only: a classifier told the true layout and class (peaks at the true layout)"
    capabilities = frozenset({SLI})
    defaults = {"scale": 10.0, "margin": 1.0}

    @classmethod
    def build(cls, num_classes, config):
        import torch

        from benchmark.model import EncoderModule

        config = cls.full_config(config)

        class Module(EncoderModule):
            def __init__(self):
                super().__init__(num_classes)
                self.register_buffer("scale", torch.tensor(float(config["scale"])))
                self.register_buffer("margin", torch.tensor(float(config["margin"])))

            def prepare_sli(self, batch):
                return batch, batch.locations.detach().clone()

            def forward_sli(self, prepared, locations):
                batch, true = prepared
                mask = batch.stroke_mask.unsqueeze(-1).to(locations.dtype)
                d2 = (((locations - true) ** 2) * mask).sum((1, 2)) / batch.num_strokes.clamp(min=1)
                logits = (-self.margin).expand(batch.size, self.num_classes).clone().to(locations.dtype)
                return logits.scatter(1, batch.labels[:, None], (-self.scale * d2)[:, None])

            def forward(self, batch):
                return self.forward_sli(self.prepare_sli(batch), batch.locations)

        return Module()


@hookimpl
def bench_register_encoders(register):
    register(KnownAnswer)
