"""Explainers: the built-ins' known answers, one contract suite over every registered explainer on
every encoder that meets its requirements, and the plan-time refusal of an unmet requirement.
Sketches are small random walks (not human drawings)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmark import plugins
from benchmark.batch import collate
from benchmark.errors import BenchError
from benchmark.model import EncoderModule
from benchmark.run.plan import plan
from conftest import run_bench
from tasks.attribution.run import auroc
from tasks.attribution.explainers.occlusion import occlusion, occlusion_one_at_a_time, random_scores
from tasks.attribution.explainers.shapley import exact_weights
from tasks.attribution.explainers.values import probabilities, subset_values
from test_encoders import ENCODERS, build, sketch


def _registered() -> dict:
    try:
        return dict(plugins.get_manager().explainers)
    finally:
        plugins.reset()


EXPLAINERS = _registered()
BUILT_IN = {"random", "stroke_length", "point_count", "drawing_order", "centre_distance", "occlusion", "shapley",
            "gradient", "gradient_x_input", "integrated_gradients", "attention_rollout"}


class StrokeSum(EncoderModule):
    """Hand-made classifier: logits = W tanh(sum over real strokes of A [location, mean delta]),
    so strokes interact (not additive) and removal matters."""

    def __init__(self, num_classes: int = 3):
        super().__init__(num_classes)
        g = torch.Generator().manual_seed(0)
        self.a = torch.nn.Parameter(torch.randn(4, 6, generator=g))
        self.w = torch.nn.Parameter(torch.randn(num_classes, 6, generator=g))

    def forward(self, batch):
        real = batch.point_mask[..., None].float()
        delta = (batch.offsets[..., :2] * real).sum(2) / real.sum(2).clamp(min=1)
        feats = torch.cat([batch.locations, delta * 10], -1) @ self.a
        return torch.tanh((feats * batch.stroke_mask[..., None]).sum(1)) @ self.w.T


@pytest.fixture
def batch():
    rng = np.random.default_rng(5)
    return collate([sketch(rng, n, (2, 7)) for n in (1, 3, 5, 7)], [0, 1, 2, 0], [10, 11, 12, 13])


def test_bench_list_explainers_json_lists_the_built_ins_with_requirements():
    result = run_bench("list", "explainers", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert BUILT_IN <= set(rows)
    assert rows["gradient"]["requires"] == ["gradients"]
    assert rows["attention_rollout"]["requires"] == ["attention"]
    assert rows["random"]["requires"] == [] and rows["random"]["control"] is True
    assert rows["shapley"]["defaults"]["max_exact"] == 10


def test_random_explainer_expected_auroc_is_one_half():
    """Over many sketches with fixed evidence labels, random scores give mean AUROC 0.5 (its
    expectation for any labels); 2000 sketches put the mean within 0.02 (about 3 standard errors)."""
    rng = np.random.default_rng(0)
    sketches = [sketch(rng, 6, (2, 4)) for _ in range(2000)]
    big = collate(sketches, np.zeros(2000, dtype=int))
    labels = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    scores = random_scores(big, seed=0).numpy()
    values = np.array([auroc(s, labels) for s in scores])
    assert abs(values.mean() - 0.5) < 0.02
    assert auroc(np.array([3.0, 2, 1, 0]), np.array([1, 1, 0, 0], bool)) == 1.0
    assert auroc(np.array([1.0, 1, 1, 1]), np.array([1, 0, 0, 1], bool)) == 0.5


def test_random_scores_do_not_depend_on_batching(batch):
    alone = random_scores(batch.select(slice(2, 3)), seed=0)
    together = random_scores(batch, seed=0)
    n = int(batch.num_strokes[2])
    assert torch.equal(alone[0, :n], together[2, :n])


def test_occlusion_equals_one_stroke_at_a_time_removal(batch):
    model = StrokeSum().eval()
    targets = torch.tensor([0, 1, 2, 1])
    batched = occlusion(model, batch, targets, chunk=3)  # chunks cut across sketches
    torch.testing.assert_close(batched, occlusion_one_at_a_time(model, batch, targets), atol=1e-6, rtol=0)
    assert (batched[~batch.stroke_mask] == 0).all() and batched.abs().sum() > 0


@pytest.mark.parametrize("config", [{}, {"max_exact": 2, "samples": 8}])
def test_shapley_efficiency_scores_sum_to_all_minus_none(batch, config):
    """Exact (all subsets) and sampled (stroke orders) Shapley values both sum to v(all) - v(none)."""
    model = StrokeSum().eval()
    targets = torch.tensor([0, 1, 2, 1])
    phi = EXPLAINERS["shapley"](config, seed=0).attribute(model, batch, targets)
    full = probabilities(model, batch, targets)
    none = subset_values(model, batch, torch.arange(batch.size), torch.zeros_like(batch.stroke_mask), targets, 8)
    torch.testing.assert_close(phi.sum(1), full - none, atol=1e-5, rtol=0)


def test_exact_shapley_weights_match_the_definition_on_three_players():
    masks, w = exact_weights(3)
    v = np.array([0.0, 1, 2, 4, 3, 5, 6, 10])  # v(subset m) for bitmask m
    phi = v @ w
    # player 0 by the definition: average marginal contribution over the 6 orders
    import itertools
    manual = np.zeros(3)
    for order in itertools.permutations(range(3)):
        m = 0
        for p in order:
            manual[p] += v[m | 1 << p] - v[m]
            m |= 1 << p
    np.testing.assert_allclose(phi, manual / 6)


def _pairs():
    return [(e, n) for e, ecls in sorted(EXPLAINERS.items()) for n, c in sorted(ENCODERS.items())
            if ecls.requires <= c.capabilities and n in ("stroke_vit_tiny", "raster_cnn", "seq_lstm",
                                                         "point_transformer", "stroke_vit_tiny_no_location")]


@pytest.mark.parametrize("explainer,encoder", _pairs())
def test_explainer_contract(explainer, encoder, batch):
    """Every registered explainer on the encoders it supports: (B, S) finite scores, padding 0, and
    a sketch's scores do not depend on what it is batched with."""
    model = build(ENCODERS[encoder]).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ex = EXPLAINERS[explainer]({}, seed=0)
    targets = torch.tensor([0, 1, 2, 1])
    scores = ex.attribute(model, batch, targets)
    assert scores.shape == batch.stroke_mask.shape
    assert torch.isfinite(scores).all() and (scores[~batch.stroke_mask] == 0).all()
    alone = ex.attribute(model, batch.select(slice(1, 2)), targets[1:2])
    n = int(batch.num_strokes[1])
    torch.testing.assert_close(alone[0, :n], scores[1, :n], atol=1e-4, rtol=1e-3)


def test_an_explainer_is_refused_on_an_encoder_lacking_its_requirement(tmp_path):
    with pytest.raises(BenchError, match="explainer 'attention_rollout' needs encoder capabilities \\['attention'\\]"):
        plan(["stroke_pointing"], ["raster_cnn"], "demo_distractors", 0, str(tmp_path), [], explainers=["attention_rollout"])
    result = run_bench("run", "--task", "stroke_deletion", "--encoder", "seq_lstm", "--explainer", "attention_rollout",
                       "--results", str(tmp_path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "stroke_vit_tiny" in result.stderr


def test_plan_adds_the_controls_and_splits_explainer_settings(tmp_path):
    specs = plan(["stroke_deletion", "recognition"], ["stroke_vit_tiny"], "demo", 0, str(tmp_path),
                 ['stroke_deletion.explainer_config={"shapley": {"samples": 8}}'], explainers=["shapley", "gradient"])
    got = [(s.task, s.config["task"].get("explainer"), s.config["task"].get("explainer_config")) for s in specs]
    assert got == [("recognition", None, None), ("stroke_deletion", "shapley", {"shapley": {"samples": 8}}),
                   ("stroke_deletion", "gradient", {}),
                   *[("stroke_deletion", c, {}) for c in ("centre_distance", "drawing_order", "point_count", "random",
                                                          "stroke_length")]]
    with pytest.raises(BenchError, match="explainer 'shapley'.*did you mean"):
        plan(["stroke_deletion"], ["stroke_vit_tiny"], "demo", 0, str(tmp_path),
             ['stroke_deletion.explainer_config={"shapley": {"sample": 8}}'])
    with pytest.raises(BenchError, match="--explainer needs a task"):
        plan(["recognition"], ["stroke_vit_tiny"], "demo", 0, str(tmp_path), [], explainers=["gradient"])
