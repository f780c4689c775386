"""The own-shape matmul limit (benchmark.matmul_limit, behind ``bench perf recognition`` and ``bench
perf sli``): the products recorded are the step's, FLOP for FLOP, whichever kernels run them
(oneDNN's LSTM, flash attention, plain matmuls); no timed assertions, only that every timing is
there, positive and consistent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.batch import collate
from benchmark.errors import BenchError
from benchmark.matmul_limit import Product, combined, one_step, record_products, time_products


def _sketches(counts, points=5, seed=0):
    """Sketches of ``counts`` strokes of ``points`` points each (no padding anywhere)."""
    rng = np.random.default_rng(seed)
    return [np.concatenate([np.column_stack([rng.uniform(-0.5, 0.5, (points, 2)), np.eye(points)[-1]])
                            for _ in range(n)]).astype(np.float32) for n in counts]


@pytest.fixture(scope="module")
def model():
    from encoders.stroke_vit import StrokeViTTiny

    torch.manual_seed(0)
    return StrokeViTTiny.build(30, {}).eval().requires_grad_(False)


def test_the_lstm_products_are_the_shape_lstms_flops(model):
    """Whatever kernel runs the shape LSTM (oneDNN's fused layer, translated, or plain matmuls),
    the products recorded carry exactly the FLOPs of its gates over every point."""
    from encoders.stroke_vit.flops import model_flops

    sketches = _sketches([3, 3, 3])
    batch = collate(sketches, [0, 1, 2], [0, 1, 2])
    with torch.no_grad():
        products = record_products(lambda: model.stroke_shapes(batch))
    vit_only = model_flops(sketches, layers=0) - 2 * 192 * 4 * 9  # no layers; minus the location term
    assert sum(p.flops for p in products) == vit_only
    assert products and all(p.flops > 0 for p in products)


def test_one_sli_step_has_the_flops_the_sli_limit_counts(model):
    """The products of one more inversion step (forward + location gradient, flash attention
    translated) match sli_step_flops to the location and head layers it leaves out."""
    from encoders.stroke_vit.flops import sli_step_flops
    from tasks.sli.inversion import Protocol, invert

    sketches = _sketches([4, 4])
    batch = collate(sketches, [0, 1], [0, 1])
    one = record_products(lambda: invert(model, batch, batch.locations, batch.labels, Protocol(steps=1)))
    two = record_products(lambda: invert(model, batch, batch.locations, batch.labels, Protocol(steps=2)))
    step = one_step(one, two)
    assert len(two) == len(one) + len(step)
    assert sum(p.flops for p in step) == pytest.approx(sli_step_flops(sketches), rel=5e-3)
    assert {p.source for p in step} == {"linear", "attention"}  # no LSTM: shapes are prepared once
    with pytest.raises(BenchError, match="does not start with"):
        one_step(two, one)


def test_a_training_step_records_the_backward_products(model):
    """Forward and backward are recorded: the LSTM's backward (weights' gradients included) and
    the layers' gradients add products to the forward's."""
    from encoders.stroke_vit import StrokeViTTiny

    torch.manual_seed(0)
    trainable = StrokeViTTiny.build(30, {}).train()
    batch = collate(_sketches([2, 5, 3]), [0, 1, 2], [0, 1, 2])
    forward = record_products(lambda: trainable(batch))
    both = record_products(lambda: torch.nn.functional.cross_entropy(trainable(batch), batch.labels).backward())
    assert both[:len(forward)] == forward
    # weights' gradients: roughly twice the forward's FLOPs again
    assert sum(p.flops for p in both) > 2.5 * sum(p.flops for p in forward)


@pytest.mark.parametrize("workers", [1, 2])
def test_timings_are_positive_and_consistent(workers):
    sequences = [[Product(1, 64, 32, 16, "linear"), Product(3, 8, 16, 8, "attention")] * 3,
                 [Product(1, 32, 32, 32, "lstm")] * 2]
    before = torch.get_num_threads()
    t = time_products(sequences, threads=1, workers=workers, repeats=2)
    assert t["products"] == 8 and t["shapes"] == 3
    assert t["alone_s"] > 0 and t["back_to_back_s"] > 0 and t["seconds"] == max(t["alone_s"], t["back_to_back_s"])
    assert set(t["by_source"]) == {"linear", "attention", "lstm"}
    if workers == 1:
        assert sum(t["by_source"].values()) == pytest.approx(t["alone_s"])
    assert t["gflop"] == pytest.approx(sum(p.flops for s in sequences for p in s) / 1e9)
    assert torch.get_num_threads() == before  # the caller's threads restored
    total = combined(t, t, 4)
    assert total["alone_s"] == pytest.approx(5 * t["alone_s"]) and total["seconds"] >= total["alone_s"]


def test_convolutions_are_refused():
    conv = torch.nn.Conv2d(1, 2, 3)
    with pytest.raises(BenchError, match="convolutions"):
        record_products(lambda: conv(torch.randn(1, 1, 8, 8)))
