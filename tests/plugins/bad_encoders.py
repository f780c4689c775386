"""Deliberately faulty encoders for the hardening tests:

- ``wrong_logits``: returns ``(B, num_classes + 1)`` logits;
- ``sli_ignores_locations``: declares ``sli`` but its logits do not depend on ``batch.locations``;
- ``exploding``: multiplies its logits by ``$BENCH_TEST_EXPLODE`` (default 1e30), so the loss is
  not finite from the first step.
"""

import os

from benchmark import SLI, Encoder, hookimpl


def _module(num_classes, extra=0, use_locations=True, scale=1.0):
    import torch
    from torch import nn

    from benchmark.model import EncoderModule

    class Module(EncoderModule):
        def __init__(self):
            super().__init__(num_classes)
            self.point = nn.Linear(4, 16)
            self.loc = nn.Linear(2, 16)
            self.head = nn.Linear(16, num_classes + extra)

        def forward(self, batch):
            mask = batch.point_mask.unsqueeze(-1).float()
            h = (self.point(batch.offsets) * mask).sum(2) / mask.sum(2).clamp(min=1)
            if use_locations:
                h = h + self.loc(batch.locations)
            h = (h * batch.stroke_mask.unsqueeze(-1)).sum(1)
            return self.head(torch.tanh(h)) * scale

    return Module()


class WrongLogits(Encoder):
    """Returns one logit too many."""

    name = "wrong_logits"

    @classmethod
    def build(cls, num_classes, config):
        return _module(num_classes, extra=1)


class SliIgnoresLocations(Encoder):
    """Declares sli, ignores locations."""

    name = "sli_ignores_locations"
    capabilities = frozenset({SLI})

    @classmethod
    def build(cls, num_classes, config):
        return _module(num_classes, use_locations=False)


class Exploding(Encoder):
    """Logits scaled by $BENCH_TEST_EXPLODE."""

    name = "exploding"

    @classmethod
    def build(cls, num_classes, config):
        return _module(num_classes, scale=float(os.environ.get("BENCH_TEST_EXPLODE", "inf")))


@hookimpl
def bench_register_encoders(register):
    register(WrongLogits)
    register(SliIgnoresLocations)
    register(Exploding)
