"""bench data prepare on the real QuickDraw sample: splits, categories and per-sketch round trips
checked against the source files; npz and .bin round trips; the HDF5 file's contract."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchmark.data import cli as data_cli
from benchmark.data.categories import builtin, resolve_categories
from benchmark.data.formats import Drawing, read_ndjson, write_bin, write_npz
from benchmark.data.h5store import SCHEMA_VERSION, open_h5
from benchmark.data.prepare import prepare, split_of
from benchmark.errors import BenchError


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    data_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["data", *argv])
    return args.func(args)


def source_drawings(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def reference_normalise(xy: np.ndarray) -> np.ndarray:
    """The published steps, written out: translate by bbox min, divide by the longer side,
    *0.74, centre the box on 0.5, v -> 2v - 1."""
    xy = xy.astype(np.float64) - xy.min(0)
    side = xy.max(0)
    xy = xy / side.max() * 0.74
    xy += 0.5 - side / side.max() * 0.74 / 2
    return 2 * xy - 1


def polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of each point to the polyline ``line`` (``(n, 2)``, n >= 1)."""
    a, b = line[:-1].astype(float), line[1:].astype(float)
    if len(line) == 1:
        return np.hypot(*(points - line[0]).T)
    d = b - a
    t = np.clip(((points[:, None] - a) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0, 1)
    return np.hypot(*(points[:, None] - (a + t[..., None] * d)).transpose(2, 0, 1)).min(1)


def by_key(data) -> dict[str, tuple[str, int, np.ndarray]]:
    out = {}
    for name, split in data.splits.items():
        for i, key in enumerate(split.key_ids):
            out[key] = (name, int(split.labels[i]), split.sketch(i))
    return out


@pytest.fixture(scope="module")
def simplified30(quickdraw_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("s30") / "s30.h5"
    assert run_cli("prepare", "--source", str(quickdraw_dir / "full" / "simplified"),
                   "--categories", "30", "--out", str(out)) == 0
    return out


def test_simplified_round_trip_against_source(simplified30, quickdraw_dir):
    data = open_h5(simplified30)
    cats = list(builtin("30"))
    assert data.categories == cats and not data.synthetic
    assert data.checksum == data.compute_checksum()
    stored = by_key(data)
    with h5py.File(simplified30) as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        xy = {s: f[s]["source_xy"][()] for s in data.splits}
        countries = {s: f[s]["countries"][()].astype(str) for s in data.splits}
        counts = json.loads(f.attrs["counts"])
        source = json.loads(f.attrs["source"])
    assert source["format"] == "simplified" and len(source["sha256"]) == 30
    seen = 0
    for label, cat in enumerate(cats):
        lines = source_drawings(quickdraw_dir / "full" / "simplified" / f"{cat}.ndjson")
        assert counts["per_category"][cat] == len(lines) == 25
        for d in lines:
            split, y, sketch = stored[d["key_id"]]
            assert y == label and split == split_of(d["key_id"])
            ints = np.concatenate([np.array(s).T for s in d["drawing"]])
            ends = np.cumsum([len(s[0]) for s in d["drawing"]]) - 1
            np.testing.assert_allclose(sketch[:, :2], reference_normalise(ints), atol=1e-6)
            assert np.flatnonzero(sketch[:, 2]).tolist() == ends.tolist()
            i = list(data.splits[split].key_ids).index(d["key_id"])
            o = data.splits[split].offsets
            assert (xy[split][o[i]:o[i + 1]] == ints).all()
            assert countries[split][i] == d["countrycode"]
            lo, hi = sketch[:, :2].min(0), sketch[:, :2].max(0)
            assert max(hi - lo) == pytest.approx(1.48, abs=1e-6)
            np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-6)
            seen += 1
    assert seen == sum(len(s) for s in data.splits.values()) == 750
    assert sum(counts["kept"].values()) == 750 and counts["skipped"] == {}


def test_lazy_open_reads_the_same_sketches(simplified30):
    eager, lazy = open_h5(simplified30), open_h5(simplified30, lazy=True)
    points = lazy.splits["train"].points
    assert isinstance(points.base, np.memmap) and not points.flags.writeable
    for name in eager.splits:
        idx = np.random.default_rng(0).permutation(len(eager.splits[name]))[:50]
        for a, b in zip(eager.splits[name].get(idx), lazy.splits[name].get(idx)):
            assert (a == b).all()
    assert lazy.compute_checksum() == eager.checksum


def test_splits_are_stable_when_categories_or_sizes_grow(quickdraw_dir, tmp_path):
    src = quickdraw_dir / "full" / "simplified"
    small = prepare(src, ["cat", "dog"], tmp_path / "a.h5", max_per_category=10)
    big = prepare(src, ["apple", "cat", "dog", "zebra"], tmp_path / "b.h5")
    a, b = by_key(open_h5(small.out)), by_key(open_h5(big.out))
    assert len(a) == 20 and len(b) == 100
    for key, (split, _, sketch) in a.items():
        assert b[key][0] == split and (b[key][2] == sketch).all()
    first10 = [d["key_id"] for d in source_drawings(src / "cat.ndjson")[:10]]
    assert {k for k, v in a.items() if v[1] == 0} == set(first10)
    # no drawing in two splits; fractions honoured
    all_train = prepare(src, ["cat"], tmp_path / "c.h5", split_fractions=(1.0, 0.0, 0.0))
    assert all_train.counts["kept"] == {"train": 25, "valid": 0, "test": 0}
    data = open_h5(all_train.out)
    assert len(data.splits["valid"]) == 0 and data.splits["valid"].get([]) == []


def test_split_hash_is_roughly_uniform():
    keys = [str(5_000_000_000_000_000 + i * 7919) for i in range(20_000)]
    counts = {s: 0 for s in ("train", "valid", "test")}
    for k in keys:
        counts[split_of(k, (0.7, 0.2, 0.1))] += 1
    assert abs(counts["train"] / 20_000 - 0.7) < 0.02 and abs(counts["test"] / 20_000 - 0.1) < 0.02


def test_raw_prepare_simplifies_like_google(quickdraw_dir, tmp_path):
    out = tmp_path / "raw30.h5"
    assert run_cli("prepare", "--source", str(quickdraw_dir / "full" / "raw"), "--categories", "30",
                   "--out", str(out)) == 0
    data = open_h5(out)
    assert data.info["format"] == "raw" and data.checksum == data.compute_checksum()
    stored = by_key(data)
    with h5py.File(out) as f:
        xy = {s: f[s]["source_xy"][()] for s in data.splits}
    compared = exact = 0
    for label, cat in enumerate(builtin("30")):
        raw = source_drawings(quickdraw_dir / "full" / "raw" / f"{cat}.ndjson")
        assert sum(1 for v in stored.values() if v[1] == label) == len(raw) > 0
        google = {d["key_id"]: d["drawing"] for d in
                  source_drawings(quickdraw_dir / "full" / "simplified" / f"{cat}.ndjson")}
        for d in raw:
            split, _, sketch = stored[d["key_id"]]
            i = list(data.splits[split].key_ids).index(d["key_id"])
            o = data.splits[split].offsets
            ours = xy[split][o[i]:o[i + 1]]
            assert ours.min() >= 0 and 250 <= ours.max() <= 255  # RDP may drop an extreme point
            np.testing.assert_allclose(sketch[:, :2], reference_normalise(ours), atol=1e-6)
            if d["key_id"] not in google:
                continue
            theirs = google[d["key_id"]]
            ends = np.flatnonzero(sketch[:, 2])
            assert len(ends) == len(theirs) == len(d["drawing"])
            ref = np.concatenate([np.array(s).T for s in theirs])
            compared += 1
            if ours.shape == ref.shape and (ours == ref).all():
                exact += 1
            else:  # each of Google's points lies within a few pixels of our polyline of that stroke
                for a, b in zip(np.split(ours, ends[:-1] + 1), theirs):
                    assert polyline_distance(np.array(b).T, a).max() <= 3
    assert compared >= 40 and exact / compared > 0.75


def test_npz_and_bin_round_trips(quickdraw_dir, tmp_path, simplified30):
    """simplified ndjson -> sketch-rnn npz (splits as the h5) and Google .bin -> prepare -> the same sketches."""
    cats = ["cat", "hot dog", "sun"]
    (tmp_path / "npz").mkdir()
    (tmp_path / "bin").mkdir()
    drawings = {}
    for cat in cats:
        drawings[cat] = [d for d in read_ndjson(quickdraw_dir / "full" / "simplified" / f"{cat}.ndjson", cat, raw=False)]
        assert all(isinstance(d, Drawing) for d in drawings[cat])
        splits = {s: [d.points for d in drawings[cat] if split_of(d.key_id) == s] for s in ("train", "valid", "test")}
        write_npz(tmp_path / "npz" / f"{cat}.npz", splits)
        write_bin(tmp_path / "bin" / f"{cat}.bin", drawings[cat])
    from_json = prepare(quickdraw_dir / "full" / "simplified", cats, tmp_path / "json.h5")
    from_npz = prepare(tmp_path / "npz", cats, tmp_path / "npz.h5")
    from_bin = prepare(tmp_path / "bin", cats, tmp_path / "bin.h5")
    assert (from_npz.format, from_bin.format) == ("sketchrnn", "binary")
    a, b, c = (open_h5(r.out) for r in (from_json, from_npz, from_bin))
    for name in a.splits:
        sa, sb, sc = a.splits[name], b.splits[name], c.splits[name]
        assert (sa.offsets == sb.offsets).all() and (sa.points == sb.points).all()
        assert (sa.labels == sb.labels).all() and (sa.points == sc.points).all()
        assert list(sa.key_ids) == list(sc.key_ids)
    assert a.checksum == c.checksum == a.compute_checksum() == b.checksum
    assert b.splits["train"].key_ids[0] == "cat/train/0"
    # max-per-category on npz takes from each published split in proportion
    capped = prepare(tmp_path / "npz", ["cat"], tmp_path / "capped.h5", max_per_category=5)
    sizes = {s: sum(1 for d in drawings["cat"] if split_of(d.key_id) == s) for s in ("train", "valid", "test")}
    assert capped.counts["kept"] == {s: round(5 * n / 25) for s, n in sizes.items()}


def test_category_specs(tmp_path):
    assert resolve_categories("30") == list(builtin("30")) and len(resolve_categories("345")) == 345
    (tmp_path / "mine.txt").write_text("# my set\ncat\n\nhot dog\n")
    assert resolve_categories(str(tmp_path / "mine.txt")) == ["cat", "hot dog"]
    assert resolve_categories("cat, hot dog") == ["cat", "hot dog"]
    for bad, message in [("cat,cat", "listed twice"), ("cat,,dog", "empty category"),
                         ("../cat", "path separators"), ("a\\b", "path separators"), (".hidden", "start with a dot")]:
        with pytest.raises(BenchError, match=message):
            resolve_categories(bad)


def test_categories_all_is_every_category_in_the_source(quickdraw_dir, tmp_path):
    from benchmark.data.prepare import source_categories

    src = tmp_path / "src"
    src.mkdir()
    for name in ("sun", "cat", "hot dog"):
        (src / f"{name}.ndjson").symlink_to(quickdraw_dir / "full" / "simplified" / f"{name}.ndjson")
    assert resolve_categories("all", present=lambda: source_categories(src)) == ["cat", "hot dog", "sun"]
    assert resolve_categories("all") == list(builtin("345"))  # without a source (download): all of QuickDraw
    args = argparse.Namespace(source=str(src), categories="all", out=str(tmp_path / "all.h5"), max_per_category=5,
                              split_fractions="0.8,0.1,0.1", on_error="fail", force=False, workers=1)
    assert data_cli.prepare_command(args) == 0
    assert open_h5(tmp_path / "all.h5").identity()["categories"] == ["cat", "hot dog", "sun"]
    write_npz(src / "dog.npz", {"train": [np.array([[0, 0, 0], [5, 5, 1]])]})
    with pytest.raises(BenchError, match=r"holds \.ndjson and \.npz files; --categories all needs one format"):
        source_categories(src)
    with pytest.raises(BenchError, match=r"holds no \.ndjson, \.ndjson\.gz, \.npz or \.bin files: --categories all"):
        source_categories(quickdraw_dir)  # its files lie in subfolders


def test_bench_data_cli_end_to_end(quickdraw_dir, tmp_path):
    from conftest import run_bench

    src = str(quickdraw_dir / "full" / "simplified")
    done = run_bench("data", "prepare", "--source", src, "--categories", "cat,hot dog", "--out", str(tmp_path / "x.h5"),
                     "--max-per-category", "20", "--split-fractions", "0.5,0.25,0.25")
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and open_h5(tmp_path / "x.h5").identity()["num_categories"] == 2
    failed = run_bench("data", "prepare", "--source", src, "--categories", "hot dgo", "--out", str(tmp_path / "y.h5"))
    assert failed.returncode == 2 and "did you mean: hot dog" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and not (tmp_path / "y.h5").exists()


def test_perf_data_runs_on_a_small_sample(quickdraw_dir, tmp_path):
    from benchmark.data.perf import format_table, measure

    (tmp_path / "full" / "simplified").mkdir(parents=True)
    for name in ("cat", "dog", "sun"):
        (tmp_path / "full" / "simplified" / f"{name}.ndjson").symlink_to(
            quickdraw_dir / "full" / "simplified" / f"{name}.ndjson")
    figures = measure(tmp_path, batches=2, batch_size=10, repeats=1)
    assert figures["prepared_sketches"] == 75 and not figures["synthetic"]
    assert all(figures[k] > 0 for k in figures if k.endswith("_per_s"))
    assert "one dataset per sketch" in format_table(figures)


@pytest.mark.parametrize("kind", ["simplified", "raw"])
def test_gzip_compressed_ndjson_is_read_as_the_uncompressed_file(kind, quickdraw_dir, tmp_path):
    """Mirrors ship ``cat.ndjson.gz``: the same categories, drawings and content checksum as from the
    ``.ndjson`` files (only the source's sha256 differs); a damaged one is a one-line error naming it."""
    import gzip

    cats = builtin("30")[:3]
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    plain.mkdir(), packed.mkdir()
    for cat in cats:
        data = (quickdraw_dir / "full" / kind / f"{cat}.ndjson").read_bytes()
        (plain / f"{cat}.ndjson").write_bytes(data)
        (packed / f"{cat}.ndjson.gz").write_bytes(gzip.compress(data))
    a = prepare(plain, cats, tmp_path / "a.h5", workers=1)
    b = prepare(packed, cats, tmp_path / "b.h5", workers=2)
    assert a.format == b.format == kind and a.checksum == b.checksum and a.counts == b.counts
    with h5py.File(tmp_path / "b.h5") as f:
        assert json.loads(f.attrs["source"])["sha256"].keys() == {f"{c}.ndjson.gz" for c in cats}
    assert run_cli("prepare", "--source", str(packed), "--categories", "all", "--out", str(tmp_path / "c.h5")) == 0
    assert open_h5(tmp_path / "c.h5").categories == sorted(cats)
    broken = packed / f"{cats[1]}.ndjson.gz"
    broken.write_bytes(broken.read_bytes()[:-200])  # truncated mid-stream
    for workers in (1, 2):
        with pytest.raises(BenchError, match=rf"^{broken}: not a readable gzip file \(EOFError.*download it again"):
            prepare(packed, cats, tmp_path / "d.h5", workers=workers)
    assert not (tmp_path / "d.h5").exists() and not list(tmp_path.glob(".d.h5.*"))
