"""The built-in demo dataset (synthetic doodles) and the dataset plugins."""

from __future__ import annotations

import numpy as np
import pluggy
import pytest

from benchmark import hookspecs
from benchmark.batch import split_strokes
from benchmark.data import plugin as data_plugin
from benchmark.data.demo import CLASSES, GENERATOR_VERSION, cache_path, load_demo
from benchmark.data.h5store import open_h5
from benchmark.errors import BenchError

SMALL = {"train": 30, "valid": 5, "test": 20}


def test_demo_is_deterministic_cached_and_labelled_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "a"))
    data = load_demo(seed=3, sizes=SMALL)
    path = cache_path(3, SMALL)
    assert path.parent == tmp_path / "a" and path.is_file()
    assert path.name == f"demo-v{GENERATOR_VERSION}-seed3-train30-valid5-test20.h5"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    assert data.synthetic and data.name == "demo" and "synthetic" in data.source
    assert len(data.categories) >= 10 and data.categories == list(CLASSES)
    assert {k: len(v) for k, v in data.splits.items()} == {k: v * len(CLASSES) for k, v in SMALL.items()}
    assert data.checksum == data.compute_checksum()
    mtime = path.stat().st_mtime_ns
    assert load_demo(seed=3, sizes=SMALL).checksum == data.checksum and path.stat().st_mtime_ns == mtime
    path.write_bytes(path.read_bytes()[:1000])  # a damaged cache file is made again
    assert load_demo(seed=3, sizes=SMALL).checksum == data.checksum
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "b"))  # regenerated elsewhere: same data
    assert load_demo(seed=3, sizes=SMALL).checksum == data.checksum
    assert load_demo(seed=4, sizes=SMALL).checksum != data.checksum
    # larger sizes append sketches: the first ones stay the same
    bigger = load_demo(seed=3, sizes={**SMALL, "train": 40})
    for label in range(len(CLASSES)):
        a = [i for i, y in enumerate(data.splits["train"].labels) if y == label]
        b = [i for i, y in enumerate(bigger.splits["train"].labels) if y == label][:30]
        for i, j in zip(a, b):
            assert (data.splits["train"].sketch(i) == bigger.splits["train"].sketch(j)).all()


def test_demo_sketches_vary_and_twins_differ_by_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    split = load_demo(seed=0, sizes=SMALL).splits["train"]
    names = list(CLASSES)

    def sketches(name):
        return [split.sketch(i) for i in np.flatnonzero(split.labels == names.index(name))]

    for name in names:
        group = sketches(name)
        assert len({len(s) for s in group}) > 3  # variable numbers of points
        for s in group:
            assert np.abs(s[:, :2]).max() == pytest.approx(0.74, abs=1e-5) and s[-1, 2] == 1
    # face vs inverted face: same strokes (head, 2 eye dots, smile), eyes above vs below the mouth
    for name, sign in (("face", -1), ("inverted face", 1)):
        for s in sketches(name):
            strokes = sorted(split_strokes(s), key=lambda st: np.ptp(st, 0).max())
            assert len(strokes) == 4
            eyes_y, mouth_y = np.mean([st[:, 1].mean() for st in strokes[:2]]), strokes[2][:, 1].mean()
            assert np.sign(eyes_y - mouth_y) == sign
    # snowman vs caterpillar: the same three circles stacked (tall) or in a row (wide)
    for name, tall in (("snowman", True), ("caterpillar", False)):
        for s in sketches(name):
            assert len(split_strokes(s)) == 3
            w, h = np.ptp(s[:, :2], 0)
            assert (h > w) == tall
    # stroke order is jittered: the first stroke of a face is not always the head
    firsts = [np.ptp(split_strokes(s)[0], 0).max() > 1 for s in sketches("face")]
    assert 0 < sum(firsts) < len(firsts)


def test_demo_classes_are_learnable_from_layout(tmp_path, monkeypatch):
    """A nearest-centroid classifier on coarse occupancy grids separates the classes, twins
    included: the labels are a function of where strokes sit (chance is 1/12)."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    data = load_demo(seed=0, sizes={"train": 40, "valid": 0, "test": 20})

    def grids(split):
        out = np.zeros((len(split), 8 * 8))
        for i in range(len(split)):
            cells = np.clip(((split.sketch(i)[:, :2] + 1) / 2 * 8).astype(int), 0, 7)
            np.add.at(out[i], cells[:, 1] * 8 + cells[:, 0], 1)
        return out / out.sum(1, keepdims=True)

    train, test = data.splits["train"], data.splits["test"]
    centroids = np.stack([grids(train)[train.labels == c].mean(0) for c in range(len(data.categories))])
    predicted = ((grids(test)[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert (predicted == test.labels).mean() > 0.6
    for a, b in (("face", "inverted face"), ("house", "roof beside walls"), ("snowman", "caterpillar")):
        rows = np.isin(test.labels, [data.categories.index(a), data.categories.index(b)])
        assert (predicted[rows] == test.labels[rows]).mean() > 0.75


def test_plugin_registers_demo_and_quickdraw(tmp_path, monkeypatch, quickdraw_dir):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(data_plugin)
    registered = []
    pm.hook.bench_register_datasets(register=registered.append)
    by_name = {cls.name: cls for cls in registered}
    demo, quickdraw = by_name["demo"], by_name["quickdraw"]
    assert demo.synthetic and not quickdraw.synthetic and quickdraw.defaults == {"path": None}
    data = demo.open({**demo.defaults, "per_class_train": 4, "per_class_valid": 1, "per_class_test": 2})
    assert data.synthetic and len(data.splits["train"]) == 4 * len(CLASSES)
    for bad in (-1, 2.5, "x"):
        with pytest.raises(BenchError, match="data.per_class_test=.*: expected a whole number of at least 0"):
            demo.open({**demo.defaults, "per_class_test": bad})
    with pytest.raises(BenchError, match="needs a prepared file: --set path=FILE.h5"):
        quickdraw.open(dict(quickdraw.defaults))
    from benchmark.data.prepare import prepare

    out = prepare(quickdraw_dir / "full" / "simplified", ["cat", "dog"], tmp_path / "qd.h5").out
    data = quickdraw.open({"path": str(out)})
    assert data.categories == ["cat", "dog"] and data.checksum == open_h5(out).compute_checksum()
    assert data.identity()["splits"] == {k: len(v) for k, v in data.splits.items()}
