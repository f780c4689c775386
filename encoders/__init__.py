"""Built-in encoders, registered through the same hook as third-party plugins."""

from benchmark import hookimpl


@hookimpl
def bench_register_encoders(register):
    from encoders.baselines import ENCODERS as baselines
    from encoders.stroke_vit import ENCODERS as stroke_vits

    for cls in (*stroke_vits, *baselines):
        register(cls)

