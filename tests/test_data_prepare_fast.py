"""The fast prepare path gives what the line-by-line path gives: the block reader against
``formats.read_ndjson`` (drawings, bad lines and their messages), block normalisation against
``normalise``, worker processes against one process, many small spill segments against one, and
the checksum of the real sample's file as prepared before the fast path existed."""

from __future__ import annotations

import json

import h5py
import numpy as np
import orjson
import pytest

from benchmark.data import h5store
from benchmark.data.blocks import Block, normalise_rows, read_blocks
from benchmark.data.categories import resolve_categories
from benchmark.data.formats import Bad, read_ndjson
from benchmark.data.normalise import normalise
from benchmark.data.prepare import prepare

#: content checksums of the real sample prepared by the line-by-line code (main before issue 15)
BEFORE = {"simplified": "fa9b328ccd06e60b", "raw": "b0fc809f5fffae86"}


def _as_lines(items) -> list[tuple]:
    """Drawings as (key_id, points bytes, country); bad ones as their message; degenerate as one marker."""
    out = []
    for item in items:
        if isinstance(item, Block):
            for j in range(len(item)):
                if item.degenerate[j]:
                    out.append(("degenerate",))
                    continue
                points = item.points[item.starts[j]:item.starts[j] + item.lengths[j]]
                out.append((item.key_ids[j], points.tobytes(), item.countries[j]))
        elif isinstance(item, Bad):
            out.append(("degenerate",) if item.kind == "degenerate" else (item.kind, str(item)))
        else:
            out.append((item.key_id, item.points.tobytes(), item.country))
    return out


@pytest.mark.parametrize("kind", ["simplified", "raw"])
def test_block_reader_reads_the_real_sample_as_the_line_reader(kind, quickdraw_dir):
    files = sorted((quickdraw_dir / "full" / kind).glob("*.ndjson"))[:60]
    assert files
    blocks = 0
    for path in files:
        new = list(read_blocks(path, path.stem, kind == "raw"))
        blocks += sum(isinstance(i, Block) for i in new)
        assert _as_lines(new) == _as_lines(read_ndjson(path, path.stem, kind == "raw")), path
    assert blocks >= len(files) // 2  # the fast path was taken


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # 2**63 in the line reader
def test_odd_lines_fall_back_with_the_same_results_and_messages(quickdraw_dir, tmp_path):
    real = (quickdraw_dir / "full" / "simplified" / "cat.ndjson").read_text().splitlines()[:6]
    base = json.loads(real[0])

    def line(drawing, **extra):
        return json.dumps({**base, "key_id": str(len(lines)), "drawing": drawing, **extra})

    lines: list[str] = []
    for odd in ([[[1.0, 2.0], [3, 4]]],           # floats in a simplified file: integral, kept
                [[[1.5, 2], [3, 4]]],             # non-integral: bad
                [[[True, False], [3, 4]]],        # booleans
                [[[2**63, 1], [3, 4]]],           # beyond int64
                [[[1, 2], [3]]],                  # lengths differ
                [[[1, "2"], [3, 4]]],             # a string
                [[[5, 5], [5, 5]]]):              # degenerate
        lines += real[len(lines) % 3:len(lines) % 3 + 1]
        lines.append(line(odd))
    lines += ["{not json", json.dumps({**base, "word": "dog"}), "", "[1, 2]", *real[3:]]
    path = tmp_path / "cat.ndjson"
    path.write_text("\n".join(lines) + "\n")
    new, old = list(read_blocks(path, "cat", False)), list(read_ndjson(path, "cat", False))
    assert _as_lines(new) == _as_lines(old)
    assert any(isinstance(i, Block) for i in new) and sum(isinstance(i, Bad) for i in new) >= 8


def test_block_normalisation_is_bit_for_bit(quickdraw_dir):
    rng = np.random.default_rng(0)
    drawings = [rng.integers(0, 256, (n, 2)) for n in rng.integers(2, 40, 50)]
    drawings += [rng.uniform(-3, 900, (n, 2)) for n in rng.integers(2, 40, 50)]
    lengths = np.array([len(d) for d in drawings])
    together = normalise_rows(np.concatenate(drawings), lengths)
    assert together.dtype == np.float32
    assert together.tobytes() == np.concatenate([normalise(d) for d in drawings]).tobytes()


@pytest.mark.parametrize("kind", ["simplified", "raw"])
def test_workers_and_segments_give_the_same_file_as_before(kind, quickdraw_dir, tmp_path, monkeypatch):
    source = quickdraw_dir / "full" / kind
    categories = [c for c in resolve_categories("30") if (source / f"{c}.ndjson").is_file()]
    one = prepare(source, categories, tmp_path / "one.h5", workers=1)
    assert one.checksum.startswith(BEFORE[kind]) and one.peak_rss_kb["workers"] == 0
    two = prepare(source, categories, tmp_path / "two.h5", workers=2)
    assert two.checksum == one.checksum and two.peak_rss_kb["workers"] == 2
    assert two.peak_rss_kb["workers_max"] > 0 and two.counts == one.counts
    monkeypatch.setattr(h5store, "_FLUSH_ROWS", 50)   # many segments a split, many writes a dataset
    monkeypatch.setattr(h5store, "_COPY_ROWS", 70)
    small = prepare(source, categories, tmp_path / "small.h5", workers=1)
    assert small.checksum == one.checksum
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "small.h5") as b:
        for split in a:
            for name in a[split]:
                assert a[split][name][()].tobytes() == b[split][name][()].tobytes(), (split, name)


def test_a_bad_drawing_in_a_worker_stops_the_run_naming_file_and_line(quickdraw_dir, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for cat in ("cat", "dog", "sun"):
        lines = (quickdraw_dir / "full" / "simplified" / f"{cat}.ndjson").read_text().splitlines()
        if cat == "dog":
            lines.insert(3, '{"word": "dog", "key_id": "9", "drawing": [[[1, 2], [3]]]}')
        (source / f"{cat}.ndjson").write_text("\n".join(lines) + "\n")
    with pytest.raises(Exception, match=r"dog.ndjson:4: stroke 0: x, y differ in length"):
        prepare(source, ["cat", "dog", "sun"], tmp_path / "x.h5", workers=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    skipped = prepare(source, ["cat", "dog", "sun"], tmp_path / "x.h5", workers=2, on_error="skip")
    assert skipped.counts["skipped"] == {"bad_stroke": 1}
    assert skipped.counts["skipped_examples"][0].endswith("dog.ndjson:4: stroke 0: x, y differ in length")


@pytest.mark.slow
def test_bench_perf_json_gives_prepare_at_scale(quickdraw_dir, tmp_path):
    from tests.conftest import run_bench

    sample = tmp_path / "sample"
    for kind in ("simplified", "raw"):
        (sample / "full" / kind).mkdir(parents=True)
        for name in resolve_categories("30")[:3]:
            (sample / "full" / kind / f"{name}.ndjson").symlink_to(quickdraw_dir / "full" / kind / f"{name}.ndjson")
    done = run_bench("perf", "--json", "data", "--", "--batches", "2", "--batch-size", "10",
                     "--generated", "3000", "--raw-generated", "90", "--workers", "2",
                     env={"BENCH_QUICKDRAW_DIR": str(sample), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["data"]
    assert figures["prepared_sketches"] == 75 and figures["prepare_raw_per_s"] > 0
    rows = figures["scale"]["rows"]
    assert [(r["format"], r["drawings"], r["workers"]) for r in rows] == [
        ("simplified", 750, 1), ("simplified", 750, 2), ("simplified", 1500, 2), ("simplified", 3000, 2),
        ("raw", 21, 1), ("raw", 21, 2), ("raw", 45, 2), ("raw", 90, 2)]
    assert all(r["main_rss_mb"] > 10 and (r["worker_rss_mb"] > 10) == (r["workers"] > 1) for r in rows)


def test_raw_simplification_of_many_drawings_is_bit_for_bit(quickdraw_dir):
    from benchmark.data.normalise import simplify_raw, simplify_raw_many

    xys, stroke_lengths, strokes, expected = [], [], [], []
    for path in sorted((quickdraw_dir / "full" / "raw").glob("*.ndjson"))[:80]:
        for line in path.read_text().splitlines():
            drawing = [np.array(s[:2], dtype=np.float64).T for s in json.loads(line)["drawing"]]
            xy = np.concatenate(drawing)
            if np.ptp(xy, 0) @ np.ptp(xy, 0) < 1e-8:
                continue
            xys.append(xy)
            stroke_lengths += [len(s) for s in drawing]
            strokes.append(len(drawing))
            expected += simplify_raw(drawing)
    points, lengths = simplify_raw_many(np.concatenate(xys), np.array(stroke_lengths), np.array(strokes))
    assert lengths.tolist() == [len(s) for s in expected]
    assert points.tobytes() == np.concatenate(expected).tobytes()


def _awkward_drawings(seed: int, count: int) -> list[list[np.ndarray]]:
    """Random raw drawings with what the batched paths must treat as the per-stroke ones do:
    one-point strokes, strokes of one repeated point (arc length 0), repeated consecutive points
    (equal arc lengths), collinear runs (tied RDP distances), closed strokes (a zero-length chord)
    and whole-number coordinates (arc lengths landing on samples)."""
    rng = np.random.default_rng(seed)
    drawings = []
    for _ in range(count):
        strokes = []
        for _ in range(rng.integers(1, 6)):
            kind = rng.integers(6)
            n = int(rng.integers(2, 40))
            if kind == 0:
                s = rng.uniform(0, 500, (1, 2))
            elif kind == 1:
                s = np.repeat(rng.uniform(0, 500, (1, 2)), n, 0)
            elif kind == 2:
                s = np.repeat(rng.uniform(0, 500, (n, 2)), rng.integers(1, 4, n), 0)
            elif kind == 3:
                s = rng.integers(0, 50, (1, 2)) + np.outer(np.arange(n), rng.integers(-3, 4, 2))
            elif kind == 4:
                s = rng.uniform(0, 500, (n, 2))
                s[-1] = s[0]
            else:
                s = np.cumsum(rng.integers(-20, 21, (n, 2)), 0)
            strokes.append(np.asarray(s, dtype=np.float64))
        xy = np.concatenate(strokes)
        if np.ptp(xy, 0) @ np.ptp(xy, 0) >= 1e-8:
            drawings.append(strokes)
    return drawings


def test_row_running_sums_equal_each_rows_own_cumsum():
    from benchmark.data.normalise import _row_cumsum

    rng = np.random.default_rng(2)
    lengths = rng.choice([0, 1, 2, 3, 50, 400], 300)
    values = rng.uniform(0, 10, int(lengths.sum())) ** 3
    rows = np.split(values, np.cumsum(lengths)[:-1])
    assert _row_cumsum(values, lengths).tobytes() == np.concatenate([np.cumsum(r) for r in rows]).tobytes()
    assert len(_row_cumsum(np.zeros(0), np.zeros(4, dtype=np.int64))) == 0


def test_raw_simplification_of_awkward_drawings_is_bit_for_bit():
    from benchmark.data.normalise import simplify_raw, simplify_raw_many

    drawings = _awkward_drawings(0, 400)
    expected = [s for d in drawings for s in simplify_raw(d)]
    points, lengths = simplify_raw_many(np.concatenate([np.concatenate(d) for d in drawings]),
                                        np.array([len(s) for d in drawings for s in d]),
                                        np.array([len(d) for d in drawings]))
    assert lengths.tolist() == [len(s) for s in expected]
    assert points.tobytes() == np.concatenate(expected).tobytes()


def _count_parsed_lines(monkeypatch) -> list[bytes]:
    """The lines the block reader hands to orjson from now on."""
    import benchmark.data.blocks as blocks

    parsed: list[bytes] = []

    class Counting:
        JSONDecodeError = orjson.JSONDecodeError

        @staticmethod
        def loads(line: bytes):
            parsed.append(line)
            return orjson.loads(line)

    monkeypatch.setattr(blocks, "orjson", Counting)
    return parsed


@pytest.mark.parametrize("kind", ["simplified", "raw"])
def test_a_per_category_limit_reads_no_line_it_cannot_keep(kind, tmp_path, monkeypatch):
    from benchmark.data.prepare_worker import CategoryJob, prepare_category

    lines = []
    for i, strokes in enumerate(_awkward_drawings(1, 400)):
        drawing = [[np.rint(s[:, 0]).astype(int).tolist(), np.rint(s[:, 1]).astype(int).tolist()]
                   + ([list(range(len(s)))] if kind == "raw" else []) for s in strokes]
        if i == 7:
            lines.append(b"")  # a blank line counts as a line read
        lines.append(orjson.dumps({"word": "cat", "countrycode": "GB", "key_id": str(10**15 + i),
                                   "recognized": True, "drawing": drawing}))
    source = tmp_path / "cat.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n")

    def job(limit, stem):
        return CategoryJob(kind, source, "cat", 0, limit, (0.8, 0.1, 0.1), "fail", tmp_path, stem, tmp_path / "x.h5")

    parsed = _count_parsed_lines(monkeypatch)
    result = prepare_category(job(10, "ten"))
    assert result.kept == 10 and len(parsed) == 10 + result.degenerate + result.duplicates
    parsed.clear()
    result = prepare_category(job(None, "all"))
    assert result.kept + result.degenerate + result.duplicates == len(parsed) == len(lines) - 1


def test_a_script_without_a_main_guard_gets_an_error_not_a_hang(quickdraw_dir, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = tmp_path / "unguarded.py"
    script.write_text("from benchmark.data.prepare import prepare\n"
                      f"prepare({str(quickdraw_dir / 'full' / 'simplified')!r}, ['cat', 'dog'], "
                      f"{str(tmp_path / 'x.h5')!r}, workers=2)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0 and "worker process died" in done.stderr and "__main__" in done.stderr
    assert not (tmp_path / "x.h5").exists()
