"""Issue 14, data side: no code runs from a data file, no non-finite points, no foreign file
replaced, one-line errors for corrupt files and a full disk (real files, the real CLI)."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_bench

from benchmark.data.formats import load_npz, write_npz
from benchmark.data.h5store import H5Writer, Spill, open_h5
from benchmark.data.prepare import prepare
from benchmark.errors import BenchError


def _square(n: int, size: int = 40) -> np.ndarray:
    """Absolute (n, 3) points of a square-ish stroke with ``n`` points (int32)."""
    t = np.linspace(0, 1, n)
    pts = np.zeros((n, 3), np.int32)
    pts[:, 0] = np.rint(size * t)
    pts[:, 1] = np.rint(size * (t * t))
    pts[-1, 2] = 1
    return pts


def _write_real_npz(path: Path, n: int = 6) -> None:
    write_npz(path, {s: [_square(5 + i) for i in range(n)] for s in ("train", "valid", "test")})


class _WritesMarker:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _npy_with(payload: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    return buf.getvalue() + payload


def _crafted_npz(path: Path, marker: Path) -> None:
    """A sketch-rnn-looking .npz whose ``train`` member is an object array whose pickle writes ``marker``."""
    good = io.BytesIO()
    arr = np.empty(1, dtype=object)
    arr[0] = np.zeros((2, 3), np.int16)
    np.lib.format.write_array(good, arr, allow_pickle=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("train.npy", _npy_with(pickle.dumps(_WritesMarker(marker), protocol=3)))
        z.writestr("valid.npy", good.getvalue())
        z.writestr("test.npy", good.getvalue())


def test_crafted_npz_would_run_code_with_pickle_but_prepare_refuses_it(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    marker = tmp_path / "marker"
    _crafted_npz(src / "cat.npz", marker)
    # the file is really dangerous: numpy with allow_pickle runs it (in a child process)
    probe = tmp_path / "probe.npz"
    probe_marker = tmp_path / "probe_marker"
    _crafted_npz(probe, probe_marker)
    subprocess.run([sys.executable, "-c", f"import numpy as np; np.load({str(probe)!r}, allow_pickle=True)['train']"],
                   capture_output=True)
    assert probe_marker.exists()
    out = tmp_path / "out.h5"
    done = run_bench("data", "prepare", "--source", str(src), "--categories", "cat", "--out", str(out))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("bench: error: ") and "cat.npz: refused" in line and "builtins.exec" in line
    assert not marker.exists() and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.npz", "probe_marker", "src"]
    assert [p.name for p in src.iterdir()] == ["cat.npz"]


def test_real_npz_is_still_read(tmp_path):
    _write_real_npz(tmp_path / "cat.npz")
    arrays = load_npz(tmp_path / "cat.npz")
    assert [len(arrays[s]) for s in ("train", "valid", "test")] == [6, 6, 6]
    assert arrays["train"][2].dtype == np.int16 and arrays["train"][2].shape == (7, 3)
    with np.load(tmp_path / "cat.npz", allow_pickle=True, encoding="latin1") as z:  # the reference reader
        for split in ("train", "valid", "test"):
            for a, b in zip(arrays[split], z[split]):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("damage", ["bit_flip", "truncate"])
def test_corrupt_npz_is_a_one_line_error(damage, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    path = src / "cat.npz"
    _write_real_npz(path, n=200)
    data = bytearray(path.read_bytes())
    if damage == "bit_flip":
        for i in range(200, 260):
            data[i] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    out = tmp_path / "out.h5"
    done = run_bench("data", "prepare", "--source", str(src), "--categories", "cat", "--out", str(out))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "cat.npz: cannot read this .npz" in line and "download it again" in line
    assert not out.exists()


def _h5(path: Path, points_of_first: np.ndarray | None = None) -> None:
    """A structurally valid prepared file (2 classes, a few sketches per split)."""
    rng = np.random.default_rng(0)
    with H5Writer(path, ["a", "b"]) as w:
        for split in ("train", "valid", "test"):
            for i in range(8):
                pts = np.zeros((6, 3), np.float32)
                pts[:, :2] = rng.uniform(-0.7, 0.7, (6, 2))
                pts[[2, 5], 2] = 1
                if points_of_first is not None and split == "train" and i == 3:
                    pts = points_of_first
                w.add(split, pts, np.zeros((len(pts), 2), np.int32), i % 2, f"{split}{i}")
        w.commit({"name": "quickdraw"})


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e30])
def test_non_finite_or_absurd_points_are_rejected_at_open(value, tmp_path):
    bad = np.array([[0, 0, 0], [0.5, value, 0], [0.2, 0.1, 1]], np.float32)
    path = tmp_path / "bad.h5"
    _h5(path, bad)
    with pytest.raises(BenchError, match=r"split 'train' sketch 3 holds a non-finite or absurd coordinate"):
        open_h5(path)
    results = tmp_path / "results"
    done = run_bench("run", "--task", "recognition", "--data", str(path), "--encoder", "seq_lstm", "--set", "epochs=1", "--threads", "1",
                     "--results", str(results))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("bench: error: ") and "non-finite or absurd" in done.stderr
    assert "Traceback" not in done.stderr and not list((results / "runs").glob("*.json"))


def test_checksum_describes_the_data_read(tmp_path):
    path = tmp_path / "data.h5"
    _h5(path)
    data = open_h5(path, lazy=True)
    assert data.checksum == data.compute_checksum()
    with h5py.File(path, "r+") as f:  # change one coordinate, keep the stored checksum
        f["valid"]["points"][4, 0] = 0.123
    with pytest.raises(BenchError, match="do not match its content_checksum"):
        open_h5(path)


@pytest.mark.parametrize("target", ["README.md", "source"])
def test_prepare_does_not_replace_what_is_not_ours(target, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_real_npz(src / "cat.npz")
    before = (src / "cat.npz").read_bytes()
    if target == "README.md":
        out = tmp_path / "README.md"
        out.write_text("# my notes\n")
        message = "exists and is not a sketchxai-bench data file: refusing to replace it"
    else:
        out = src / "cat.npz"
        message = "is inside the source folder"
    original = out.read_bytes()
    done = run_bench("data", "prepare", "--source", str(src), "--categories", "cat", "--out", str(out))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert message in line
    assert out.read_bytes() == original and (src / "cat.npz").read_bytes() == before
    assert sorted(p.name for p in src.iterdir()) == ["cat.npz"]
    if target == "README.md":  # --force is the way to replace it; a bench file is replaced without it
        assert run_bench("data", "prepare", "--source", str(src), "--categories", "cat", "--out", str(out),
                         "--force").returncode == 0
        assert open_h5(out).splits["train"].labels.size == 6
        assert run_bench("data", "prepare", "--source", str(src), "--categories", "cat",
                         "--out", str(out)).returncode == 0
    else:  # also refused with --force
        done = run_bench("data", "prepare", "--source", str(src), "--categories", "cat", "--out",
                         str(src / "sub" / "x.h5"), "--force")
        assert done.returncode == 2 and message in done.stderr


def test_disk_full_while_preparing_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    """The spill files are swapped for /dev/full: the kernel's own ENOSPC."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    src = tmp_path / "src"
    src.mkdir()
    _write_real_npz(src / "cat.npz")
    out = tmp_path / "old.h5"
    _h5(out)
    before = out.read_bytes()
    real_init = Spill.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self._file.close()
        self._file = open("/dev/full", "wb")

    monkeypatch.setattr(Spill, "__init__", init)
    with pytest.raises(BenchError) as caught:
        prepare(src, ["cat"], out, workers=1)
    assert "No space left on device" in str(caught.value) and "free some space" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["old.h5", "src"]


def test_disk_full_while_writing_a_record_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    from benchmark import records

    path = tmp_path / "r.json"
    path.write_text("old")
    monkeypatch.setattr(records.tempfile, "mkstemp",
                        lambda **kw: (os.open("/dev/full", os.O_WRONLY), str(tmp_path / ".r.json.x.tmp")))
    with pytest.raises(BenchError, match=r"cannot write .*r.json: No space left on device; free some space"):
        records.atomic_write_text(path, "new" * 10000)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_long_comma_list_of_categories_is_a_list_not_a_file_name(tmp_path):
    from synthetic import write_source

    from benchmark.data.categories import quickdraw_names

    names = list(quickdraw_names()[:200])
    src = write_source(tmp_path / "src", names, count=3)
    out = tmp_path / "out.h5"
    spec = ",".join(names)
    assert len(spec) > 255  # longer than any file name: Path(spec).is_file() raises ENAMETOOLONG
    done = run_bench("data", "prepare", "--source", str(src), "--categories", spec, "--out", str(out),
                     "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert open_h5(out).categories == names
    too_long = run_bench("data", "prepare", "--source", str(src), "--categories", f"cat,{'x' * 300}",
                         "--out", str(tmp_path / "other.h5"))
    assert too_long.returncode == 2 and "Traceback" not in too_long.stderr
    (line,) = too_long.stderr.strip().splitlines()
    assert "is longer than 200 bytes" in line and len(line) < 300


@pytest.mark.parametrize("tamper", ["coordinate", "end_of_stroke"])
def test_a_file_without_its_checksum_is_refused_and_bench_data_verify_says_why(tamper, tmp_path):
    path = tmp_path / "data.h5"
    _h5(path)
    done = run_bench("data", "verify", str(path))
    assert done.returncode == 0 and done.stdout.startswith(f"{path}: ok (2 categories")
    with h5py.File(path, "r+") as f:  # drop the checksum, then change the data as it no longer guards
        del f.attrs["content_checksum"]
        if tamper == "coordinate":
            f["train"]["points"][4, 0] = 999.0
        else:
            f["train"]["points"][4, 2] = 7
    for lazy in (False, True):
        with pytest.raises(BenchError, match=r"no content_checksum attribute.*bench data prepare .*--force"):
            open_h5(path, lazy=lazy)
    results = tmp_path / "results"
    done = run_bench("run", "--task", "recognition", "--data", str(path), "--encoder", "seq_lstm", "--set", "epochs=1",
                     "--threads", "1", "--results", str(results))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"bench: error: {path}: has no content_checksum attribute") and "--force" in line
    assert not list((results / "runs").glob("*.json"))
    done = run_bench("data", "verify", str(path))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [line] and not done.stdout


def test_an_end_of_stroke_flag_other_than_0_or_1_is_refused_even_with_a_matching_checksum(tmp_path):
    bad = np.array([[0, 0, 0], [0.5, 0.2, 7], [0.2, 0.1, 1]], np.float32)
    path = tmp_path / "bad.h5"
    _h5(path, bad)
    with pytest.raises(BenchError, match=r"split 'train' sketch 3 has an end-of-stroke flag of 7 \(flags are 0 or 1\)"):
        open_h5(path)


def _big_ndjson_source(folder: Path, categories: list[str], lines: int) -> None:
    """One simplified ndjson file per category, ``lines`` distinct drawings each (a few seconds to read)."""
    folder.mkdir()
    for c in categories:
        body = "".join(f'{{"key_id":"{c}{i}","countrycode":"GB","drawing":[[[0,{i % 200 + 20},90],'
                       f'[0,40,{i % 100 + 60}]],[[5,60],[70,9]]]}}\n' for i in range(lines))
        (folder / f"{c}.ndjson").write_text(body)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # exited, waiting for its (new) parent to reap it


def _start_prepare_with_workers(src: Path, out: Path, categories: list[str]) -> tuple[subprocess.Popen, list[int]]:
    """``bench data prepare --workers 2`` started, returned once both workers are reading (spill files)."""
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", "data", "prepare", "--source", str(src),
                             "--categories", ",".join(categories), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        spills = list(out.parent.glob(f".{out.name}.*/*.spill"))
        children = _children(proc.pid)
        if len(spills) >= 2 and len(children) >= 2:
            return proc, children
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the prepare never had two workers writing (exit {proc.poll()}): {proc.communicate()}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux /proc")
def test_sigterm_during_a_two_worker_prepare_stops_every_process_and_leaves_no_temporary_file(tmp_path):
    import signal
    import time

    from benchmark.data.categories import builtin

    cats = builtin("30")[:8]
    _big_ndjson_source(tmp_path / "src", cats, 40_000)
    out = tmp_path / "out" / "data.h5"
    out.parent.mkdir()
    proc, children = _start_prepare_with_workers(tmp_path / "src", out, cats)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "bench: terminated", err
    deadline = time.monotonic() + 15
    while not all(map(_gone, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in children if not _gone(pid)] == []  # workers and the resource tracker
    assert list(out.parent.iterdir()) == []  # no --out, no temporary folder

    # SIGKILL cannot be caught: the workers still end with the parent, and the next prepare removes
    # the temporary folder the killed one left
    proc, children = _start_prepare_with_workers(tmp_path / "src", out, cats)
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 15
    while not all(map(_gone, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in children if not _gone(pid)] == []
    (left,) = out.parent.iterdir()
    small = tmp_path / "small"
    _big_ndjson_source(small, cats[:2], 20)
    done = run_bench("data", "prepare", "--source", str(small), "--categories", ",".join(cats[:2]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"removed 1 temporary folder(s) beside {out} left by an interrupted prepare" in done.stderr
    assert list(out.parent.iterdir()) == [out]
