"""Baseline encoders: registration, config errors, the stroke-5 sequence, exact location gradients
(float64 finite differences through each whole model) and learning a location-defined task.

Sketches are synthetic random walks (not human drawings). The shared contract suite
(tests/test_encoders.py) covers shapes, checkpoints, seeding and padding invariance.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmark import SLI, plugins
from benchmark.batch import collate
from benchmark.errors import BenchError
from encoders.baselines import ENCODERS
from encoders.baselines.sequence import point_sequence

#: Tiny configurations (float64 gradient checks and a quick fit).
TINY = {
    "raster_cnn": {"image_size": 16, "line_sigma": 1.0, "width": 2, "fc_size": 8, "dropout": 0.0},
    "raster_vit_tiny": {"image_size": 16, "line_sigma": 1.0, "patch_size": 8, "hidden_size": 8, "num_layers": 1,
                        "num_heads": 2, "mlp_size": 16, "dropout": 0.0},
    "seq_lstm": {"hidden_size": 6, "dropout": 0.0},
    "point_transformer": {"d_model": 8, "num_layers": 1, "num_heads": 2, "ff_size": 16, "dropout": 0.0},
}
BY_NAME = {cls.name: cls for cls in ENCODERS}


def walk_sketch(rng: np.random.Generator, lengths, centre=(0.0, 0.0), spread: float = 0.5) -> np.ndarray:
    """Random-walk strokes of the given numbers of points, starting around ``centre``."""
    parts = []
    for n in lengths:
        xy = np.asarray(centre) + rng.uniform(-spread, spread, 2) + np.cumsum(rng.normal(0, 0.06, (n, 2)), axis=0)
        part = np.zeros((n, 3), np.float32)
        part[:, :2], part[-1, 2] = xy, 1
        parts.append(part)
    return np.concatenate(parts)


def test_package_imports_neither_torch_nor_transformers():
    code = ("import sys, encoders.baselines as b; assert len(b.ENCODERS) == 4; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_baselines_are_registered_with_sli_and_documented():
    registered = plugins.get_manager().encoders
    for cls in ENCODERS:
        assert registered[cls.name] is cls
        assert SLI in cls.capabilities
        assert cls.summary() and "Differs" in cls.__doc__
    assert set(TINY) == set(BY_NAME)


def test_unknown_or_inconsistent_config_is_a_clear_error():
    with pytest.raises(BenchError, match=r"encoder 'raster_cnn': unknown setting 'widht'; did you mean: width\?"):
        BY_NAME["raster_cnn"].build(5, {"widht": 8})
    with pytest.raises(BenchError, match=r"encoder 'raster_cnn': unknown setting 'colour'; .*; unknown setting 'widht'"):
        BY_NAME["raster_cnn"].build(5, {"widht": 8, "colour": 1})
    with pytest.raises(BenchError, match=r"raster_vit_tiny.*patch_size 12 must divide image_size 64"):
        BY_NAME["raster_vit_tiny"].build(5, {"patch_size": 12})
    with pytest.raises(BenchError, match=r"point_transformer.*num_heads"):
        BY_NAME["point_transformer"].build(5, {"num_heads": 3})


def test_point_sequence_is_sketch_rnn_stroke5():
    rng = np.random.default_rng(0)
    sketches = [walk_sketch(rng, [4, 1, 3]), walk_sketch(rng, [7, 5, 2, 6])]
    seq = point_sequence(collate(sketches, [0, 1]))
    for i, sketch in enumerate(sketches):
        n = len(sketch)
        moves = np.diff(sketch[:, :2], axis=0, prepend=np.zeros((1, 2), np.float32))
        expected = np.zeros((seq.stroke5.shape[1], 5), np.float32)
        expected[:n, :2], expected[:n, 2], expected[:n, 3] = moves, 1 - sketch[:, 2], sketch[:, 2]
        expected[n, 4] = 1
        np.testing.assert_allclose(seq.stroke5[i].numpy(), expected, atol=1e-6)
        np.testing.assert_allclose(seq.xy[i, :n].numpy(), sketch[:, :2], atol=1e-6)
        assert int(seq.lengths[i]) == n and int(seq.mask[i].sum()) == n


def test_moving_a_stroke_changes_only_the_pen_moves_into_and_out_of_it():
    batch = collate([walk_sketch(np.random.default_rng(1), [3, 4, 2])], [0])
    moved = batch.locations.clone()
    moved[0, 1] += torch.tensor([0.25, -0.5])
    change = (point_sequence(batch, moved).stroke5 - point_sequence(batch).stroke5)[0]
    changed_rows = torch.nonzero(change.abs().sum(-1) > 1e-6).squeeze(1).tolist()
    assert changed_rows == [3, 7]  # the first point of stroke 1 and of stroke 2
    torch.testing.assert_close(change[3, :2], torch.tensor([0.25, -0.5]))
    torch.testing.assert_close(change[7, :2], torch.tensor([-0.25, 0.5]))


@pytest.mark.parametrize("name", sorted(TINY))
def test_location_gradients_match_finite_differences(name):
    torch.manual_seed(0)
    module = BY_NAME[name].build(3, TINY[name]).double().eval()
    rng = np.random.default_rng(2)
    batch = collate([walk_sketch(rng, [4, 1, 3]), walk_sketch(rng, [5])], [0, 1])
    batch = batch.replace(offsets=batch.offsets.double())
    prepared = module.prepare_sli(batch)
    locations = batch.locations.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda loc: module.forward_sli(prepared, loc), (locations,),
                                    eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(TINY))
def test_learns_a_task_defined_by_stroke_locations(name):
    """Class 0: strokes in the left half; class 1: in the right half. Shapes carry no signal, so
    the logits must respond to locations (through the rendering or the pen moves)."""
    rng = np.random.default_rng(4)
    labels = np.arange(16) % 2
    sketches = [walk_sketch(rng, list(rng.integers(2, 6, 3)), centre=(0.45 * (2 * y - 1), 0), spread=0.25)
                for y in labels]
    batch = collate(sketches, labels)
    torch.manual_seed(0)
    module = BY_NAME[name].build(2, TINY[name])
    optimiser = torch.optim.Adam(module.parameters(), lr=0.01)
    loss_fn = torch.nn.functional.cross_entropy
    for _ in range(60):
        optimiser.zero_grad()
        loss_fn(module(batch), batch.labels).backward()
        optimiser.step()
    module.eval()
    with torch.no_grad():
        assert (module(batch).argmax(1) == batch.labels).all()
        mirrored = batch.locations * torch.tensor([-1.0, 1.0])  # strokes' starts mirrored left-right
        flipped = module.forward_sli(module.prepare_sli(batch), mirrored).argmax(1)
    assert (flipped != batch.labels).float().mean() >= 0.75
