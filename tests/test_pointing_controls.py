"""The pointing set cannot be solved without the model: the model-blind controls (and an outside
stroke-length plugin) are at chance on ``demo_distractors`` and on a pointing set built from the
real QuickDraw sample, a classifier that sees only the distractor strokes is at chance, and the
validity gate refuses a set a stroke statistic can separate. Data: the synthetic demo (not human
sketches) and, where present, the real sample in ``$BENCH_QUICKDRAW_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import plugins, stats
from benchmark.batch import collate
from benchmark.data.demo import load_demo
from benchmark.data.distractors import strokes_of, with_distractors
from benchmark.data.sketches import SketchSplit
from conftest import ROOT
from tasks.attribution.explainers import BLIND_CONTROLS
from tasks.attribution.run import CHANCE_BAND, auroc, pointing_set_verdict

LENGTH_PLUGIN = ROOT / "tests" / "plugins" / "length_explainer.py"
QUICKDRAW = Path(os.environ.get("BENCH_QUICKDRAW_DIR") or ROOT.parent / "shared" / "quickdraw")


def _aurocs(explainer, split: SketchSplit) -> np.ndarray:
    """Per-sketch AUROC of a model-blind explainer's scores for evidence vs distractor strokes."""
    idx = np.arange(len(split))
    batch = collate(split.get(idx), split.labels[idx], idx)
    scores = explainer.attribute(None, batch, batch.labels)
    out = []
    for b in range(batch.size):
        n = int(batch.num_strokes[b])
        out.append(auroc(scores[b, :n].numpy(), split.stroke_labels_of(b)[:n] == 1))
    return np.array(out)


def _chance_like(values: np.ndarray) -> bool:
    m = stats.mean(values, seed=0)
    return (m.ci_low <= 0.5 <= m.ci_high) or (CHANCE_BAND[0] <= m.ci_low and m.ci_high <= CHANCE_BAND[1])


def _explainers():
    plugins.configure((str(LENGTH_PLUGIN),))
    try:
        outside = plugins.get_manager().explainer("length_heuristic")({}, 0)
    finally:
        plugins.reset()
    return [cls({}, 0) for cls in BLIND_CONTROLS] + [outside]


def test_model_blind_scores_are_at_chance_on_the_distractor_demo():
    split = load_demo(0, distractors=3).split("test")
    for explainer in _explainers():
        values = _aurocs(explainer, split)
        assert _chance_like(values), (explainer.name, stats.mean(values, seed=0))


def test_model_blind_scores_are_at_chance_on_a_pointing_set_from_the_real_sample(tmp_path):
    if not (QUICKDRAW / "full" / "simplified").is_dir():
        pytest.skip(f"the real QuickDraw sample is not at {QUICKDRAW} (set BENCH_QUICKDRAW_DIR)")
    from benchmark.data.categories import resolve_categories
    from benchmark.data.h5store import open_h5
    from benchmark.data.prepare import prepare

    prepare(QUICKDRAW / "full" / "simplified", resolve_categories("30"), tmp_path / "qd30.h5")
    data = open_h5(tmp_path / "qd30.h5")
    sketches = [s for split in data.splits.values() for s in split.get(range(len(split)))]
    labels = np.concatenate([split.labels for split in data.splits.values()])
    real = with_distractors(SketchSplit.from_sketches("all", sketches, labels), 3, [0])
    for explainer in _explainers():
        values = _aurocs(explainer, real)
        assert _chance_like(values), (explainer.name, stats.mean(values, seed=0))


def test_the_gate_refuses_a_set_that_a_stroke_statistic_separates():
    plain = load_demo(0).split("test")
    split = with_distractors(plain, 3, [0])
    # shrink every distractor stroke to a tenth around its start: short strokes, as the old distractors were
    points = split.points.copy()
    ends = np.flatnonzero(points[:, 2] > 0.5)
    starts = np.concatenate(([0], ends[:-1] + 1))
    for label, a, b in zip(split.stroke_labels, starts, ends + 1):
        if label == 0:
            points[a:b, :2] = points[a, :2] + 0.1 * (points[a:b, :2] - points[a, :2])
    shrunk = SketchSplit(split.name, points, split.offsets, split.labels, stroke_labels=split.stroke_labels)
    controls = {cls.name: _aurocs(cls({}, 0), shrunk) for cls in BLIND_CONTROLS}
    verdict = pointing_set_verdict(controls, seed=0)
    assert not verdict["valid"] and not verdict["controls"]["stroke_length"]["chance_like"]
    assert pointing_set_verdict({cls.name: _aurocs(cls({}, 0), split) for cls in BLIND_CONTROLS}, 0)["valid"]
    # far below 0.5 separates as well as far above
    assert not pointing_set_verdict({"x": np.full(50, 0.1) + np.linspace(0, 0.02, 50)}, 0)["valid"]


def _stroke_features(strokes: list[np.ndarray], slots: int) -> np.ndarray:
    """Start point, end point, arc length, point count and box size of the first ``slots`` strokes."""
    out = np.zeros((slots, 8), dtype=np.float32)
    for k, s in enumerate(strokes[:slots]):
        xy = s[:, :2]
        out[k] = [*xy[0], *xy[-1], np.hypot(*np.diff(xy, axis=0).T).sum(), len(s) / 10, *(xy.max(0) - xy.min(0))]
    return out.ravel()


def _fit_and_score(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], classes: int) -> np.ndarray:
    torch.manual_seed(0)
    x, y = (torch.as_tensor(a) for a in train)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, classes))
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(400):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return (net(torch.as_tensor(test[0])).argmax(1).numpy() == test[1]).astype(np.float64)


def _features(split: SketchSplit, evidence: bool) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for i in range(len(split)):
        strokes, marks = strokes_of(split.sketch(i)), split.stroke_labels_of(i)
        rows.append(_stroke_features([s for s, m in zip(strokes, marks) if (m == 1) == evidence], 3))
    return np.stack(rows), split.labels.astype(np.int64)


def test_a_classifier_of_the_distractor_strokes_alone_is_at_chance():
    data = load_demo(0, distractors=3)
    classes = len(data.categories)
    train, test = data.split("train"), data.split("test")
    on_distractors = stats.proportion(_fit_and_score(_features(train, False), _features(test, False), classes))
    assert on_distractors.ci_low <= 1 / classes <= on_distractors.ci_high, on_distractors
    # the same classifier on the evidence strokes is far above chance: the check can fail
    on_evidence = stats.proportion(_fit_and_score(_features(train, True), _features(test, True), classes))
    assert on_evidence.ci_low > 3 / classes, on_evidence
