"""The built-in explainers give Captum's numbers on the same model and sketches (Captum is the
standard attribution library for PyTorch; :mod:`tasks.attribution.captum_reference` maps our
stroke semantics onto it). Data: synthetic demo sketches (not human drawings)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.batch import collate
from benchmark.data.demo import load_demo
from benchmark.model import fresh_module, freeze
from encoders.stroke_vit import StrokeViTTiny
from tasks.attribution.captum_reference import captum_scores

pytest.importorskip("captum", reason="Captum is not installed (pip install captum; it is in the test extra)")


@pytest.fixture(scope="module")
def model_and_batch():
    model = freeze(fresh_module(StrokeViTTiny, 12, {"num_layers": 2}, seed=0))
    split = load_demo(0).split("test")
    counts = np.array([int((split.sketch(i)[:, 2] > 0.5).sum()) for i in range(len(split))])
    four = np.flatnonzero(counts == 4)[:6]  # one stroke count: Captum's exact Shapley enumerates every feature
    mixed = np.concatenate([four[:3], np.flatnonzero(counts == 6)[:2], np.flatnonzero(counts == 3)[:2]])
    return model, collate(split.get(four), split.labels[four], four), collate(split.get(mixed), split.labels[mixed], mixed)


@pytest.mark.parametrize("name", ["gradient", "gradient_x_input", "integrated_gradients", "occlusion", "shapley"])
def test_the_explainer_gives_captums_numbers(name, model_and_batch):
    from benchmark.plugins import get_manager

    model, same_count, mixed = model_and_batch
    explainer = get_manager().explainer(name)({"max_exact": 10} if name == "shapley" else {}, 0)
    for batch in (same_count,) if name == "shapley" else (same_count, mixed):
        ours = explainer.attribute(model, batch, batch.labels)
        theirs = captum_scores(name, model, batch, batch.labels, steps=explainer.config.get("steps", 16))
        assert ours.shape == theirs.shape
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6), (name, (ours - theirs).abs().max())
        assert float(ours.abs().sum()) > 0  # a comparison of zeros would prove nothing
