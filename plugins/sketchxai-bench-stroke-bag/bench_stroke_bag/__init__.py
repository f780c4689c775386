"""Example sketchxai-bench plugin: registers the ``stroke_bag`` encoder."""

from benchmark import SLI, Encoder, hookimpl

__version__ = "0.1.0"


class StrokeBag(Encoder):
    """Bag of strokes: per-stroke MLP over point offsets plus start location, max-pooled over strokes."""

    name = "stroke_bag"
    version = "1"
    capabilities = frozenset({SLI})
    defaults = {"hidden": 128, "dropout": 0.1}

    @classmethod
    def build(cls, num_classes, config):
        from bench_stroke_bag.model import StrokeBagModule

        return StrokeBagModule(num_classes, **cls.full_config(config))


@hookimpl
def bench_register_encoders(register):
    register(StrokeBag)
