"""A one-file test encoder, ``layout_oracle``: a known-answer classifier for the ``tiny`` dataset.

Its class-``c`` logit is ``-scale * |d - d_c|^2``, where ``d`` is the bar's start point relative to
the circle's (strokes 1 and 0) and ``d_c`` the value a perfectly drawn sketch of class ``c`` has; so
it is a smooth, analytic function of the stroke locations (SLI-capable) and its scores on fixed
inputs are known in advance. Used to pin every built-in task's scores (tests/test_pinned_scores.py).
"""

from benchmark import SLI, Encoder, hookimpl

#: The bar's start relative to the circle's for each tiny class (tests/plugins/tiny_data.py): the bar
#: starts at offset + (-0.15, 0), the circle at (0.3, 0).
REFERENCE = ((-0.45, 0.4), (-0.45, -0.4), (-0.85, 0.0), (-0.05, 0.0))


class LayoutOracle(Encoder):
    """Analytic classifier of the tiny dataset's layouts (for tests)."""

    name = "layout_oracle"
    version = "1"
    capabilities = frozenset({SLI})
    defaults = {"scale": 10.0}

    @classmethod
    def build(cls, num_classes, config):
        import torch

        from benchmark.model import EncoderModule

        config = cls.full_config(config)

        class Oracle(EncoderModule):
            def __init__(self):
                super().__init__(num_classes)
                self.scale = torch.nn.Parameter(torch.tensor(float(config["scale"])))
                self.register_buffer("reference", torch.tensor(REFERENCE[:num_classes]))

            def forward(self, batch):
                d = batch.locations[:, 1] - batch.locations[:, 0]
                return -self.scale * ((d[:, None, :] - self.reference[None]) ** 2).sum(-1)

        return Oracle()


@hookimpl
def bench_register_encoders(register):
    register(LayoutOracle)
