"""Bad input to the data layer: clear errors naming file and line, --on-error skip counting, no
half-written files, truncated files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchmark.data.formats import Drawing, write_bin, write_npz
from benchmark.data.h5store import open_h5
from benchmark.data.prepare import parse_fractions, prepare
from benchmark.errors import BenchError

BAD_LINES = [  # (line, reason kind, message fragment)
    ('{"word": "cat", "key_id": "101", "drawing": [[[1, 2], [3, 4]]', "malformed_json", "malformed JSON"),
    ('[1, 2]', "malformed_json", "not a JSON object"),
    ('{"word": "cat", "drawing": [[[0, 5], [0, 5]]]}', "missing_field", "missing field(s) key_id"),
    ('{"word": "cat", "key_id": "102"}', "missing_field", "missing field(s) drawing"),
    ('{"word": "cat", "key_id": "103", "drawing": [[[0, NaN], [0, 5]]]}', "non_finite", "NaN or infinity"),
    ('{"word": "cat", "key_id": "104", "drawing": [[[0, 5], [0, Infinity]]]}', "non_finite", "NaN or infinity"),
    ('{"word": "cat", "key_id": "105", "drawing": [[[0, "5"], [0, 5]]]}', "bad_coordinates", "non-number"),
    ('{"word": "cat", "key_id": "106", "drawing": []}', "empty_drawing", "non-empty list of strokes"),
    ('{"word": "cat", "key_id": "107", "drawing": [[[0, 5, 9], [0, 5]]]}', "bad_stroke", "differ in length"),
    ('{"word": "cat", "key_id": "108", "drawing": [[[], []]]}', "bad_stroke", "non-empty list"),
    ('{"word": "cat", "key_id": "109", "drawing": [[[0, 5], [0, 5], [0, 10]]]}', "bad_stroke", "[xs, ys] (simplified file)"),
    ('{"word": "dog", "key_id": "110", "drawing": [[[0, 5], [0, 5]]]}', "wrong_category", "does not match"),
    ('{"word": "cat", "key_id": "111", "drawing": [[[0, 5.5], [0, 5]]]}', "bad_coordinates", "non-integer"),
]


def make_source(folder: Path, quickdraw_dir: Path, bad: list[str], good_after: int = 2) -> list[str]:
    """``cat.ndjson`` with 5 real drawings, the ``bad`` lines, then ``good_after`` real drawings."""
    real = (quickdraw_dir / "full" / "simplified" / "cat.ndjson").read_text().splitlines()
    lines = real[:5] + bad + real[5:5 + good_after]
    folder.mkdir(exist_ok=True)
    (folder / "cat.ndjson").write_text("\n".join(lines) + "\n")
    return lines


@pytest.mark.parametrize("line,kind,message", BAD_LINES, ids=[k for _, k, _ in BAD_LINES])
def test_bad_line_fails_naming_file_and_line_and_leaves_nothing(line, kind, message, quickdraw_dir, tmp_path):
    make_source(tmp_path / "src", quickdraw_dir, [line])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.h5").write_bytes(b"previous result")
    with pytest.raises(BenchError) as err:
        prepare(tmp_path / "src", ["cat"], out_dir / "old.h5", force=True)
    assert "cat.ndjson:6: " in str(err.value) and message in str(err.value)
    assert "--on-error skip" in str(err.value)
    # the interrupted prepare left the old file as it was and no temporary file behind
    assert [p.name for p in out_dir.iterdir()] == ["old.h5"]
    assert (out_dir / "old.h5").read_bytes() == b"previous result"


def test_skip_counts_bad_drawings_in_attrs_and_on_stderr(quickdraw_dir, tmp_path, capsys):
    make_source(tmp_path / "src", quickdraw_dir, [line for line, _, _ in BAD_LINES])
    report = prepare(tmp_path / "src", ["cat"], tmp_path / "x.h5", on_error="skip")
    expected = {}
    for _, kind, _ in BAD_LINES:
        expected[kind] = expected.get(kind, 0) + 1
    assert report.counts["skipped"] == expected and report.kept == 7
    with h5py.File(tmp_path / "x.h5") as f:
        assert json.loads(f.attrs["counts"])["skipped"] == expected
    err = capsys.readouterr().err
    assert f"skipped {len(BAD_LINES)} bad drawing(s)" in err and "cat.ndjson:6:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "x.h5"]


def test_one_point_strokes_kept_degenerate_dropped_duplicates_refused(quickdraw_dir, tmp_path, capsys):
    dot = '{"word": "cat", "key_id": "201", "drawing": [[[0, 100], [0, 50]], [[40], [60]], [[7], [7]]]}'
    point = '{"word": "cat", "key_id": "202", "drawing": [[[5, 5], [7, 7]], [[5], [7]]]}'
    real = (quickdraw_dir / "full" / "simplified" / "cat.ndjson").read_text().splitlines()
    make_source(tmp_path / "src", quickdraw_dir, [dot, point])
    report = prepare(tmp_path / "src", ["cat"], tmp_path / "x.h5")  # on-error fail: degenerate is no error
    assert report.counts["dropped_degenerate"] == 1 and report.kept == 8
    assert "dropped 1 degenerate drawing(s)" in capsys.readouterr().err
    data = open_h5(tmp_path / "x.h5")
    split = next(s for s in data.splits.values() if "201" in list(s.key_ids))
    sketch = split.sketch(list(split.key_ids).index("201"))
    assert sketch[:, 2].tolist() == [0, 1, 1, 1]  # strokes of 2, 1 and 1 points
    # bbox 100 x 60: x -> 1.48 x / 100 - 0.74, y -> 1.48 y / 100 - 0.444 (the box centred on 0)
    np.testing.assert_allclose(sketch[2:, :2], [[-0.148, 0.444], [-0.6364, -0.3404]], atol=1e-6)
    make_source(tmp_path / "dup", quickdraw_dir, [real[0]])  # an exact repeat is dropped and counted
    assert prepare(tmp_path / "dup", ["cat"], tmp_path / "y.h5").counts["dropped_duplicates"] == 1
    other = json.loads(real[0])
    other["drawing"][0][0][0] += 1
    make_source(tmp_path / "dup", quickdraw_dir, [json.dumps(other)])
    with pytest.raises(BenchError, match=r"key_id \d+ seen before with another drawing"):
        prepare(tmp_path / "dup", ["cat"], tmp_path / "y.h5")
    assert prepare(tmp_path / "dup", ["cat"], tmp_path / "y.h5", on_error="skip").counts["skipped"] == {"duplicate_key_id": 1}


def test_raw_lines_need_timing(quickdraw_dir, tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    real = (quickdraw_dir / "full" / "raw" / "cat.ndjson").read_text().splitlines()[:3]
    nan_t = '{"word": "cat", "key_id": "301", "drawing": [[[0.5, 9.5], [1.0, 8.0], [0, NaN]]]}'
    no_t = '{"word": "cat", "key_id": "302", "drawing": [[[0.5, 9.5], [1.0, 8.0]]]}'
    (src / "cat.ndjson").write_text("\n".join(real + [nan_t, no_t]) + "\n")
    report = prepare(src, ["cat"], tmp_path / "r.h5", on_error="skip")
    assert report.format == "raw" and report.kept == 3
    assert report.counts["skipped"] == {"non_finite": 1, "bad_stroke": 1}
    assert "[xs, ys, ts] (raw file)" in " ".join(report.counts["skipped_examples"])


def test_category_and_folder_errors(quickdraw_dir, tmp_path):
    src = quickdraw_dir / "full" / "simplified"
    with pytest.raises(BenchError, match=r"unknown category 'cta'; did you mean: cat"):
        prepare(src, ["cta"], tmp_path / "x.h5")
    with pytest.raises(BenchError, match=r"no \.ndjson file for zigzag.*bench data download"):
        prepare(src, ["cat", "zigzag"], tmp_path / "x.h5")
    with pytest.raises(BenchError, match=r"no such folder"):
        prepare(tmp_path / "nope", ["cat"], tmp_path / "x.h5")
    with pytest.raises(BenchError, match=r"holds no \.ndjson, \.ndjson\.gz, \.npz or \.bin files \(did you mean a subfolder"):
        prepare(quickdraw_dir, ["cat"], tmp_path / "x.h5")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(src / "cat.ndjson", mixed)
    write_npz(mixed / "cat.npz", {"train": [np.array([[0, 0, 0], [5, 5, 1]])]})
    with pytest.raises(BenchError, match=r"keep one format per folder"):
        prepare(mixed, ["cat"], tmp_path / "x.h5")
    with pytest.raises(BenchError, match=r"on-error"):
        prepare(src, ["cat"], tmp_path / "x.h5", on_error="ignore")
    for text in ("0.8,0.1", "0.8,0.3,0.1", "a,b,c", "0,0.5,0.5"):
        with pytest.raises(BenchError, match=r"--split-fractions"):
            parse_fractions(text)
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob(".*"))


def test_npz_errors(tmp_path):
    src = tmp_path / "npz"
    src.mkdir()
    good = np.array([[10, 10, 0], [5, 0, 0], [0, 5, 1], [-3, -3, 1]], dtype=np.int16)
    write_npz(src / "cat.npz", {"train": [good, good], "valid": [good], "test": [good]})
    data = open_h5(prepare(src, ["cat"], tmp_path / "ok.h5").out)
    assert [len(s) for s in data.splits.values()] == [2, 1, 1]
    assert data.splits["train"].sketch(0)[:, 2].tolist() == [0, 0, 1, 1]
    # bad items inside a readable npz name the split and index
    arr = np.empty(3, dtype=object)
    arr[:] = [good, np.array([[0, 0, 0], [np.nan, 1, 1]]), np.array([[0, 0, 0], [4, 4, 2]])]
    np.savez(src / "cat.npz", train=arr, valid=arr[:1], test=arr[:1])
    with pytest.raises(BenchError, match=r"cat\.npz:train\[1\]: stroke-3 array holds NaN"):
        prepare(src, ["cat"], tmp_path / "x.h5")
    report = prepare(src, ["cat"], tmp_path / "x.h5", on_error="skip")
    assert report.counts["skipped"] == {"non_finite": 1, "bad_stroke": 1}
    np.savez(src / "cat.npz", train=arr)
    with pytest.raises(BenchError, match=r"not a sketch-rnn \.npz: no valid, test array"):
        prepare(src, ["cat"], tmp_path / "x.h5")
    write_npz(src / "cat.npz", {"train": [good] * 50})
    blob = (src / "cat.npz").read_bytes()
    (src / "cat.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(BenchError, match=r"cat\.npz: cannot read this \.npz \(truncated or corrupt\?\)"):
        prepare(src, ["cat"], tmp_path / "x.h5")


def test_truncated_bin(tmp_path):
    src = tmp_path / "bin"
    src.mkdir()
    points = np.array([[0, 0, 0], [200, 100, 1], [50, 50, 1]], dtype=np.int32)
    write_bin(src / "cat.bin", [Drawing("123", points, "DE"), Drawing("124", points, "FR")])
    report = prepare(src, ["cat"], tmp_path / "b.h5")
    assert report.format == "binary" and report.kept == 2
    blob = (src / "cat.bin").read_bytes()
    (src / "cat.bin").write_bytes(blob[:-3])
    with pytest.raises(BenchError, match=r"cat\.bin: truncated at byte \d+ \(drawing 1\)"):
        prepare(src, ["cat"], tmp_path / "b2.h5")
    assert not (tmp_path / "b2.h5").exists()


def test_truncated_or_foreign_h5(quickdraw_dir, tmp_path):
    out = prepare(quickdraw_dir / "full" / "simplified", ["cat", "dog"], tmp_path / "x.h5").out
    blob = out.read_bytes()
    (tmp_path / "cut.h5").write_bytes(blob[: len(blob) // 2])
    for lazy in (False, True):
        with pytest.raises(BenchError, match=r"cut\.h5: .*(truncated|corrupt).*bench data prepare"):
            open_h5(tmp_path / "cut.h5", lazy=lazy)
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(BenchError, match=r"not a sketchxai-bench data file"):
        open_h5(tmp_path / "foreign.h5")
    with pytest.raises(BenchError, match=r"no such file"):
        open_h5(tmp_path / "absent.h5")
    shutil.copy(out, tmp_path / "bad_labels.h5")
    with h5py.File(tmp_path / "bad_labels.h5", "a") as f:
        f["train"]["labels"][0] = 7
    with pytest.raises(BenchError, match=r"labels outside 0\.\.1"):
        open_h5(tmp_path / "bad_labels.h5")


def test_unwritable_output_is_a_clear_error(quickdraw_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(BenchError, match=r"cannot write .*file/x\.h5"):
        prepare(quickdraw_dir / "full" / "simplified", ["cat"], blocker / "x.h5")
