"""Built-in encoders, registered through the same hook as third-party plugins."""

from benchmark import hookimpl


@hookimpl
def bench_register_encoders(register):
    from encoders.baselines import ENCODERS as baselines
    from encoders.stroke_vit import ENCODERS as stroke_vits

    for cls in (*stroke_vits, *baselines):
        register(cls)


@hookimpl
def bench_register_perf_targets(register):
    register("recognition", "encoders.stroke_vit.perf",
             "stroke_vit_tiny train/eval on the 30 real categories vs the published implementation")
    register("scaling", "encoders.stroke_vit.perf_scaling",
             "stroke_vit_tiny train/eval sketches/s against strokes per sketch (1..196), default vs reference_compat")
    register("first-epoch", "encoders.stroke_vit.perf_first_epoch",
             "why the first training epoch is slower: two fresh models in one process, CPU and page faults per epoch")
    register("baselines", "encoders.baselines.perf", "train/eval sketches/s of every baseline encoder")
    register("contention", "encoders.stroke_vit.perf_contention",
             "a training step alone vs beside a busy process, all-cores threads vs the idle-core default")
