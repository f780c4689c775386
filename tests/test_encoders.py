"""One contract suite run over every registered encoder (built-ins and installed plugins).

Big models are shrunk (``num_layers`` at most 2) to keep the suite fast; everything else uses the
encoder's defaults. Sketches are small synthetic random walks (not human drawings).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark import ATTENTION, GRADIENTS, SLI, plugins
from benchmark.batch import collate
from benchmark.checkpoints import load_checkpoint, save_checkpoint
from benchmark.removal import remove_strokes

NUM_CLASSES = 5


def _registered() -> dict:
    manager = plugins.get_manager()
    try:
        return dict(manager.encoders)
    finally:
        plugins.reset()


ENCODERS = _registered()


def small_config(cls) -> dict:
    """The encoder's defaults with at most 2 layers."""
    config = dict(cls.defaults)
    if isinstance(config.get("num_layers"), int):
        config["num_layers"] = min(config["num_layers"], 2)
    return config


def build(cls, seed: int = 0):
    torch.manual_seed(seed)
    return cls.build(NUM_CLASSES, small_config(cls))


def sketch(rng: np.random.Generator, strokes: int, points: tuple[int, int]) -> np.ndarray:
    """A random-walk sketch of ``strokes`` strokes with ``points`` (low, high) points each, inside
    the normalised canvas."""
    parts = []
    for _ in range(strokes):
        n = int(rng.integers(*points))
        start = rng.uniform(-0.6, 0.6, 2)
        xy = np.clip(start + np.cumsum(rng.normal(0, 0.05, (n, 2)), axis=0), -0.74, 0.74)
        end = np.zeros((n, 1))
        end[-1] = 1
        parts.append(np.hstack([xy, end]))
    return np.vstack(parts).astype(np.float32)


@pytest.fixture
def sketches():
    rng = np.random.default_rng(1)
    return [sketch(rng, 3, (3, 6)), sketch(rng, 6, (8, 14)), sketch(rng, 1, (2, 4))]


def test_encoders_are_registered():
    assert {"stroke_vit_tiny", "stroke_vit_base"} <= set(ENCODERS)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_logits_have_batch_by_class_shape(name, sketches):
    module = build(ENCODERS[name])
    batch = collate(sketches, [0, 1, 2])
    for train in (True, False):
        module.train(train)
        logits = module(batch)
        assert logits.shape == (3, NUM_CLASSES)
        assert torch.isfinite(logits).all()
    assert module.num_parameters() > 0


@pytest.mark.parametrize("name", sorted(n for n, c in ENCODERS.items() if SLI in c.capabilities))
def test_gradient_reaches_locations(name, sketches):
    module = build(ENCODERS[name]).eval()
    batch = collate(sketches, [0, 1, 2])
    locations = batch.locations.clone().requires_grad_(True)
    logits = module(batch.replace(locations=locations))
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 2, 3])).backward()
    grad = locations.grad
    assert torch.isfinite(grad).all()
    per_sketch = (grad.abs() * batch.stroke_mask[..., None]).sum((1, 2))
    assert (per_sketch > 0).all(), per_sketch


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_forward_sli_matches_forward(name, sketches):
    module = build(ENCODERS[name]).eval()
    batch = collate(sketches, [0, 1, 2])
    prepared = module.prepare_sli(batch)
    moved = batch.locations + 0.1 * torch.randn(batch.locations.shape, generator=torch.Generator().manual_seed(0))
    moved = moved * batch.stroke_mask[..., None]
    with torch.no_grad():
        for locations in (batch.locations, moved, batch.locations):  # cached state is not altered
            expected = module(batch.replace(locations=locations))
            torch.testing.assert_close(module.forward_sli(prepared, locations), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_checkpoint_round_trip_gives_identical_logits(name, sketches, tmp_path):
    cls = ENCODERS[name]
    module = build(cls).eval()
    folder = save_checkpoint(tmp_path / "ckpt", cls.name, cls.version, module, small_config(cls),
                             [f"c{i}" for i in range(NUM_CLASSES)])
    loaded, info = load_checkpoint(folder, cls)
    batch = collate(sketches, [0, 1, 2])
    with torch.no_grad():
        assert torch.equal(loaded.eval()(batch), module(batch))
    assert info["encoder"] == name


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_seeded_build_is_deterministic(name, sketches):
    a, b = build(ENCODERS[name], seed=3).eval(), build(ENCODERS[name], seed=3).eval()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    batch = collate(sketches, [0, 1, 2])
    with torch.no_grad():
        assert torch.equal(a(batch), b(batch))
    c = build(ENCODERS[name], seed=4)
    assert any(not torch.equal(sa[k], v) for k, v in c.state_dict().items() if v.is_floating_point())


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_logits_do_not_depend_on_batch_padding(name, sketches):
    module = build(ENCODERS[name]).eval()
    short, long_ = sketches[0], sketches[1]  # the long one has more and longer strokes
    with torch.no_grad():
        alone = module(collate([short], [0]))
        first = module(collate([short, long_], [0, 1]))[:1]
        last = module(collate([long_, short], [1, 0]))[1:]
    torch.testing.assert_close(first, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(last, alone, atol=1e-5, rtol=0)


def _without(sketch_points: np.ndarray, drop: set[int]) -> np.ndarray:
    """The sketch drawn without the strokes in ``drop`` (indices in drawing order)."""
    parts = np.split(sketch_points, np.flatnonzero(sketch_points[:, 2] > 0.5) + 1)[:-1]
    return np.concatenate([p for i, p in enumerate(parts) if i not in drop])


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_removed_strokes_give_the_logits_of_the_sketch_drawn_without_them(name, sketches):
    """benchmark.removal: a removed stroke is not drawn, tokenised or rasterised, for every encoder."""
    module = build(ENCODERS[name]).eval()
    batch = collate(sketches, [0, 1, 2])
    drops = [{1}, {0, 4, 5}, set()]  # the longest sketch loses its first stroke and two long ones
    keep = batch.stroke_mask.clone()
    for b, drop in enumerate(drops):
        keep[b, sorted(drop)] = False
    with torch.no_grad():
        removed = module(remove_strokes(batch, keep))
        drawn = module(collate([_without(s, d) for s, d in zip(sketches, drops)], [0, 1, 2]))
        empty = module(remove_strokes(batch, torch.zeros_like(keep)))
    torch.testing.assert_close(removed, drawn, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(empty).all()  # every stroke removed: the empty canvas still has logits


@pytest.mark.parametrize("name", sorted(n for n, c in ENCODERS.items() if GRADIENTS in c.capabilities))
def test_gradient_reaches_point_deltas(name, sketches):
    module = build(ENCODERS[name]).eval()
    batch = collate(sketches, [0, 1, 2])
    offsets = batch.offsets.clone().requires_grad_(True)
    module(batch.replace(offsets=offsets))[:, 1].sum().backward()
    grad = offsets.grad[..., :2]
    assert torch.isfinite(grad).all()
    assert ((grad.abs() * batch.point_mask[..., None]).sum((1, 2, 3)) > 0).all()


@pytest.mark.parametrize("name", sorted(n for n, c in ENCODERS.items() if ATTENTION in c.capabilities))
def test_attention_probabilities_follow_the_forward_pass(name, sketches):
    module = build(ENCODERS[name]).eval()
    batch = collate(sketches, [0, 1, 2])
    with torch.no_grad():
        maps = module.attention_probabilities(batch)
        logits = module(batch)
    assert maps
    S = batch.stroke_mask.shape[1]
    for probs in maps:
        assert probs.shape[0] == 3 and probs.shape[2] == probs.shape[3] >= 1 + S
        torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]))
    if hasattr(module, "_eager_layers") and not getattr(module, "reference_compat", False):
        hidden, _ = module._eager_layers(batch)
        torch.testing.assert_close(module.head(module.layernorm(hidden[:, 0])), logits, atol=1e-5, rtol=1e-5)
        padded = ~batch.stroke_mask
        assert (maps[0][:, :, :, 1:][padded[:, None, None, :].expand(-1, probs.shape[1], 1 + S, -1)] == 0).all()


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_randomisation_layers_hold_the_parameters(name):
    module = build(ENCODERS[name])
    layers = module.randomisation_layers()
    assert layers and all(any(True for _ in m.parameters()) for _, m in layers)
