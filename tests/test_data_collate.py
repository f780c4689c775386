"""The vectorised collate against a plain per-sketch loop written from its documented contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.batch import collate, reversal_index


def slow_collate(sketches, max_strokes, max_points):
    strokes = []
    for sk in sketches:
        ends = list(np.flatnonzero(sk[:, 2] > 0.5) + 1)
        if not ends or ends[-1] != len(sk):
            ends.append(len(sk))
        strokes.append([sk[a:b, :2] for a, b in zip([0] + ends[:-1], ends)])
    kept = [[s[:max_points] if max_points else s for s in st[:max_strokes]] for st in strokes]
    S = max(len(k) for k in kept)
    P = max(len(s) for k in kept for s in k)
    feats = np.zeros((len(sketches), S, P, 4), np.float32)
    mask = np.zeros((len(sketches), S, P), bool)
    loc = np.zeros((len(sketches), S, 2), np.float32)
    for b, k in enumerate(kept):
        for s, pts in enumerate(k):
            loc[b, s] = pts[0]
            for p in range(len(pts)):
                feats[b, s, p, :2] = pts[p] - pts[p - 1] if p else 0
                feats[b, s, p, 2 if p < len(pts) - 1 else 3] = 1
                mask[b, s, p] = True
    dropped_strokes = sum(max(0, len(st) - max_strokes) for st in strokes)
    dropped_points = sum(len(s) for st in strokes for s in st[:max_strokes]) - int(mask.sum())
    return feats, mask, loc, dropped_strokes, dropped_points


@pytest.mark.parametrize("max_strokes,max_points", [(196, None), (3, None), (5, 4), (1, 1)])
def test_collate_matches_the_contract(max_strokes, max_points):
    rng = np.random.default_rng(max_strokes)
    sketches = []
    for _ in range(40):
        n = int(rng.integers(1, 40))
        sk = np.zeros((n, 3), np.float32)
        sk[:, :2] = rng.normal(size=(n, 2))
        sk[:, 2] = rng.random(n) < 0.3
        sketches.append(sk)
    sketches[0][-1, 2] = 0  # a last point without its end flag still ends the stroke
    sketches[1] = sketches[1][:1]  # a one-point sketch
    labels = rng.integers(0, 5, len(sketches))
    batch = collate(sketches, labels, np.arange(100, 140), max_strokes=max_strokes, max_points=max_points)
    feats, mask, loc, dropped_strokes, dropped_points = slow_collate(sketches, max_strokes, max_points)
    np.testing.assert_allclose(batch.offsets.numpy(), feats, atol=1e-6)
    assert (batch.point_mask.numpy() == mask).all()
    assert (batch.locations.numpy() == loc).all()
    assert (batch.stroke_mask.numpy() == mask.any(-1)).all()
    assert (batch.order.numpy() == np.where(mask.any(-1), np.arange(mask.shape[1]), 0)).all()
    assert (batch.truncated_strokes, batch.truncated_points) == (dropped_strokes, dropped_points)
    assert batch.labels.tolist() == labels.tolist() and batch.index.tolist() == list(range(100, 140))
    assert batch.offsets.dtype == torch.float32 and batch.order.dtype == torch.long
    points = batch.points().numpy()  # absolute points come back from locations + offsets
    for b, sk in enumerate(sketches[:5]):
        if max_points is None and max_strokes == 196:
            assert np.allclose(points[b][mask[b]], sk[:, :2], atol=1e-5)


def test_reversal_index_reverses_within_each_length_and_leaves_padding():
    index = reversal_index(torch.tensor([3, 1, 0, 4]), 4)
    assert index.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    x = torch.arange(8.0).view(2, 4)
    assert x.gather(1, reversal_index(torch.tensor([3, 2]), 4)).gather(1, reversal_index(torch.tensor([3, 2]), 4)).equal(x)
