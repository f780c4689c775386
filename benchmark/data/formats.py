"""Readers (and writers) for the QuickDraw file formats.

- official *simplified* ndjson: integer x, y in 0..255, one JSON object a line (``.ndjson``, or
  gzip-compressed ``.ndjson.gz`` as mirrors ship it, streamed: see :func:`open_ndjson`);
- official *raw* ndjson: float x, y and time t per point, simplified here as Google did
  (:func:`benchmark.data.normalise.simplify_raw`);
- sketch-rnn ``.npz``: keys ``train``/``valid``/``test``, object arrays of int16 stroke-3
  ``(n, 3)`` = (dx, dy, pen lifted after this point); the first row holds the absolute start;
- Google's binary ``.bin`` (little-endian records of uint8 coordinates).

Readers yield a :class:`Drawing` per good drawing and a :class:`Bad` per bad one (so the caller
decides whether to fail or skip); a file that cannot be read at all raises
:class:`benchmark.errors.BenchError` naming it.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.normalise import is_degenerate, simplify_raw
from benchmark.errors import BenchError

SIMPLIFIED, RAW, SKETCHRNN, BINARY = "simplified", "raw", "sketchrnn", "binary"
FORMATS = (SIMPLIFIED, RAW, SKETCHRNN, BINARY)
SUFFIX = {SIMPLIFIED: ".ndjson", RAW: ".ndjson", SKETCHRNN: ".npz", BINARY: ".bin"}
NPZ_SPLITS = ("train", "valid", "test")


@dataclass
class Drawing:
    """One good drawing: ``points`` ``(n, 3)`` int32 absolute x, y (source units) and
    end-of-stroke (1 on every stroke's last point); ``split`` is set where the source defines it."""

    key_id: str
    points: np.ndarray
    country: str = ""
    split: str | None = None


@dataclass
class Bad:
    """A drawing that cannot be used: ``where`` is ``file:line`` (or ``file:split[i]``)."""

    where: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class _BadDrawing(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def strokes_to_points(strokes: list[np.ndarray]) -> np.ndarray:
    """``(n, 3)`` int32 x, y, end-of-stroke from integer strokes ``(n_i, 2)``."""
    points = np.zeros((sum(len(s) for s in strokes), 3), dtype=np.int32)
    points[:, :2] = np.concatenate(strokes)
    points[np.cumsum([len(s) for s in strokes]) - 1, 2] = 1
    return points


def _numbers(values: list, what: str) -> np.ndarray:
    """A float64 array of a flat list of JSON numbers (no strings, booleans, nulls or NaN)."""
    try:
        arr = np.array(values)
    except ValueError:  # nested lists of different lengths
        arr = np.array(None)
    if arr.dtype.kind not in "iuf" or arr.ndim != 1:
        raise _BadDrawing("bad_coordinates", f"{what} hold a non-number")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise _BadDrawing("non_finite", f"{what} hold NaN or infinity")
    return arr


def parse_drawing(drawing, raw: bool) -> tuple[np.ndarray, list[int]]:
    """All points ``(n, 2)`` float64 of an ndjson ``drawing`` value and its strokes' lengths,
    validated (a raw drawing's times are checked, then dropped)."""
    if not isinstance(drawing, list) or not drawing:
        raise _BadDrawing("empty_drawing", "'drawing' must be a non-empty list of strokes")
    want = 3 if raw else 2
    xs: list = []
    ys: list = []
    ts: list = []
    lengths = []
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) != want:
            what = "[xs, ys, ts] (raw file)" if raw else "[xs, ys] (simplified file)"
            raise _BadDrawing("bad_stroke", f"stroke {i} must be {what}")
        if not all(isinstance(v, list) and v for v in stroke):
            raise _BadDrawing("bad_stroke", f"stroke {i}: each coordinate must be a non-empty list")
        n = len(stroke[0])
        if any(len(v) != n for v in stroke):
            raise _BadDrawing("bad_stroke", f"stroke {i}: x, y{', t' if raw else ''} differ in length")
        xs += stroke[0]
        ys += stroke[1]
        if raw:
            ts += stroke[2]
        lengths.append(n)
    xy = np.stack([_numbers(xs, "x coordinates"), _numbers(ys, "y coordinates")], 1)
    if raw:
        _numbers(ts, "times")
    return xy, lengths


def _drawing_from_json(obj, category: str, raw: bool) -> Drawing:
    if not isinstance(obj, dict):
        raise _BadDrawing("malformed_json", "line is not a JSON object")
    missing = [k for k in ("key_id", "drawing") if k not in obj]
    if missing:
        raise _BadDrawing("missing_field", f"missing field(s) {', '.join(missing)}")
    word = obj.get("word", category)
    if word != category:
        raise _BadDrawing("wrong_category", f"word {word!r} does not match the file's category {category!r}")
    xy, lengths = parse_drawing(obj["drawing"], raw)
    if is_degenerate(xy):
        raise _BadDrawing("degenerate", "zero-size bounding box")
    if raw:
        strokes = simplify_raw(np.split(xy, np.cumsum(lengths)[:-1]))
        xy, lengths = np.concatenate(strokes), [len(s) for s in strokes]
    elif (xy != np.rint(xy)).any():
        raise _BadDrawing("bad_coordinates", "non-integer coordinates in a simplified file")
    points = np.zeros((len(xy), 3), dtype=np.int32)
    points[:, :2] = xy
    points[np.cumsum(lengths) - 1, 2] = 1
    return Drawing(str(obj["key_id"]), points, str(obj.get("countrycode", "")))


def parse_line(path: Path, lineno: int, line: bytes, category: str, raw: bool) -> Drawing | Bad:
    """One line of an official ndjson file: its drawing, or why it is refused."""
    try:
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise _BadDrawing("malformed_json", f"malformed JSON ({e})") from None
        return _drawing_from_json(obj, category, raw)
    except _BadDrawing as e:
        return Bad(f"{path}:{lineno}", e.kind, str(e))


def open_ndjson(path: Path):
    """An ndjson file opened for reading bytes line by line: ``.gz`` ones decompressed as they are
    read (never whole in memory). Read it inside :func:`gzip_errors`."""
    return gzip.open(path, "rb") if Path(path).name.endswith(".gz") else open(path, "rb")


@contextmanager
def gzip_errors(path: Path) -> Iterator[None]:
    """Turn a damaged gzip stream (truncated, not gzip, bad CRC) met while reading ``path`` into a
    one-line :class:`BenchError` naming the file."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise BenchError(f"{path}: not a readable gzip file ({type(exc).__name__}: {exc or 'truncated'}); "
                         "download it again (or give the uncompressed .ndjson)") from None


def read_ndjson(path: Path, category: str, raw: bool) -> Iterator[Drawing | Bad]:
    """Drawings of an official ndjson file (``raw`` ones are simplified as Google did)."""
    with gzip_errors(path), open_ndjson(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                yield parse_line(path, lineno, line, category, raw)


def ndjson_kind(path: Path) -> str | None:
    """``raw`` if the first parsable drawing of ``path`` has timing, ``simplified`` if not, None if
    the file has no parsable drawing."""
    with gzip_errors(path), open_ndjson(path) as fh:
        for line in fh:
            try:
                stroke = json.loads(line)["drawing"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            if isinstance(stroke, list) and len(stroke) in (2, 3):
                return RAW if len(stroke) == 3 else SIMPLIFIED
    return None


def stroke3_to_points(stroke3: np.ndarray) -> np.ndarray:
    """Absolute ``(n, 3)`` int32 x, y, end-of-stroke from stroke-3 deltas (last point ends a stroke)."""
    points = np.empty((len(stroke3), 3), dtype=np.int32)
    points[:, :2] = np.cumsum(stroke3[:, :2], axis=0, dtype=np.int64)
    points[:, 2] = stroke3[:, 2]
    points[-1, 2] = 1
    return points


def points_to_stroke3(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`stroke3_to_points`: int16 ``(n, 3)`` deltas from (0, 0) and pen lifts."""
    out = np.empty((len(points), 3), dtype=np.int16)
    deltas = np.diff(np.asarray(points[:, :2], dtype=np.int64), axis=0, prepend=np.zeros((1, 2), np.int64))
    if np.abs(deltas).max(initial=0) > np.iinfo(np.int16).max:
        raise BenchError("a stroke-3 step does not fit int16: coordinates too large for a sketch-rnn .npz")
    out[:, :2] = deltas
    out[:, 2] = points[:, 2]
    return out


def _check_stroke3(s) -> np.ndarray:
    if not isinstance(s, np.ndarray) or s.ndim != 2 or s.shape[1] != 3 or len(s) == 0:
        raise _BadDrawing("bad_stroke", f"expected a non-empty (n, 3) stroke-3 array, got "
                                        f"{getattr(s, 'shape', type(s).__name__)}")
    if s.dtype.kind not in "iuf":
        raise _BadDrawing("bad_coordinates", f"stroke-3 array of dtype {s.dtype} is not numeric")
    if s.dtype.kind == "f":
        if not np.isfinite(s).all():
            raise _BadDrawing("non_finite", "stroke-3 array holds NaN or infinity")
        if (s != np.rint(s)).any():
            raise _BadDrawing("bad_coordinates", "stroke-3 array holds non-integer values")
    if not np.isin(s[:, 2], (0, 1)).all():
        raise _BadDrawing("bad_stroke", "pen state (third column) must be 0 or 1")
    points = stroke3_to_points(s.astype(np.int64))
    if is_degenerate(points[:, :2]):
        raise _BadDrawing("degenerate", "zero-size bounding box")
    return points


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Admits only what numpy needs to rebuild arrays (``ndarray``, ``dtype``, ``_reconstruct``);
    any other global (``os.system``, ``builtins.eval``, ...) is refused before it can run."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are read)")
        return super().find_class(module, name)


def _read_npy(fh) -> np.ndarray:
    """One ``.npy`` member: plain arrays by ``numpy.lib.format``, object arrays (sketch-rnn's
    ragged strokes) by :class:`_ArrayOnlyUnpickler`, which runs no code from the file."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    shape, fortran, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(fh) \
        if version in ((1, 0), (2, 0)) else (None, None, None)
    if dtype is None:
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject:
        arr = _ArrayOnlyUnpickler(fh, encoding="latin1").load()
        if not isinstance(arr, np.ndarray):
            raise pickle.UnpicklingError(f"expected an array, found {type(arr).__name__}")
        return arr
    count = int(np.prod(shape, dtype=np.int64))
    data = fh.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise EOFError("array data is truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """The ``train``/``valid``/``test`` arrays of a sketch-rnn ``.npz``, read without running any
    pickled code (sketch-rnn files are object arrays; only numpy's array rebuilding is admitted)."""
    try:
        with zipfile.ZipFile(path) as z:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in z.namelist()}
            missing = [k for k in NPZ_SPLITS if k not in members]
            if missing:
                raise BenchError(f"{path}: not a sketch-rnn .npz: no {', '.join(missing)} array "
                                 f"(it has: {', '.join(members) or 'nothing'})")
            out = {}
            for k in NPZ_SPLITS:
                with z.open(members[k]) as fh:
                    out[k] = _read_npy(fh)
            return out
    except pickle.UnpicklingError as e:
        raise BenchError(f"{path}: refused: this .npz holds more than numpy arrays ({e}); "
                         "it may be crafted to run code: use a file from a trusted source") from None
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error, zipfile.LargeZipFile,
            struct.error, TypeError, AttributeError, IndexError, KeyError) as e:
        raise BenchError(f"{path}: cannot read this .npz (truncated or corrupt?): {type(e).__name__}: {e}; "
                         "download it again") from None


def read_npz(path: Path, category: str, limit: int | None = None) -> Iterator[Drawing | Bad]:
    """Drawings of a sketch-rnn ``.npz`` with their published split; ``limit`` caps the total,
    taken from each split in proportion to its size. Key ids are ``<category>/<split>/<index>``."""
    arrays = load_npz(path)
    total = sum(len(a) for a in arrays.values())
    for split, arr in arrays.items():
        take = len(arr) if limit is None or limit >= total else round(limit * len(arr) / total)
        for i, s in enumerate(arr[:take]):
            try:
                yield Drawing(f"{category}/{split}/{i}", _check_stroke3(s), split=split)
            except _BadDrawing as e:
                yield Bad(f"{path}:{split}[{i}]", e.kind, str(e))


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_npz(path: Path, splits: dict[str, Iterable[np.ndarray]]) -> None:
    """Write a sketch-rnn ``.npz`` (atomically): ``splits`` maps ``train``/``valid``/``test`` to
    absolute ``(n, 3)`` points (as :class:`Drawing.points`), stored as int16 stroke-3."""
    arrays = {}
    for split in NPZ_SPLITS:
        items = [points_to_stroke3(p) for p in splits.get(split, [])]
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
        arrays[split] = arr
    _atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


_BIN_HEAD = struct.Struct("<Q2sBIH")


def read_bin(path: Path) -> Iterator[Drawing | Bad]:
    """Drawings of Google's binary format: per drawing key_id u64, country 2 bytes, recognized
    u8, timestamp u32, n_strokes u16, then per stroke n_points u16, x u8[n], y u8[n]."""
    data = Path(path).read_bytes()
    pos, index = 0, 0
    while pos < len(data):
        start = pos
        try:
            key_id, country, _, _, n_strokes = _BIN_HEAD.unpack_from(data, pos)
            pos += _BIN_HEAD.size
            strokes = []
            for _ in range(n_strokes):
                (n,) = struct.unpack_from("<H", data, pos)
                if pos + 2 + 2 * n > len(data):
                    raise struct.error("stroke runs past the end of the file")
                xy = np.frombuffer(data, np.uint8, 2 * n, pos + 2).reshape(2, n).T
                strokes.append(xy.astype(np.int32))
                pos += 2 + 2 * n
        except struct.error:
            raise BenchError(f"{path}: truncated at byte {start} (drawing {index}); "
                             "download it again") from None
        where = f"{path}:drawing {index}"
        index += 1
        if not strokes or any(len(s) == 0 for s in strokes):
            yield Bad(where, "empty_drawing", "drawing or stroke without points")
        elif is_degenerate(np.concatenate(strokes)):
            yield Bad(where, "degenerate", "zero-size bounding box")
        else:
            yield Drawing(str(key_id), strokes_to_points(strokes),
                          country.rstrip(b"\0").decode("ascii", "replace"))


def write_bin(path: Path, drawings: Iterable[Drawing]) -> None:
    """Write drawings (coordinates in 0..255, numeric key ids) in Google's binary format, atomically."""
    def write(fh):
        for d in drawings:
            strokes = np.split(d.points[:, :2], np.flatnonzero(d.points[:, 2])[:-1] + 1)
            fh.write(_BIN_HEAD.pack(int(d.key_id), d.country.encode()[:2].ljust(2, b"\0"), 1, 0, len(strokes)))
            for s in strokes:
                fh.write(struct.pack("<H", len(s)) + s.T.astype(np.uint8).tobytes())
    _atomic_write(path, write)


def read_drawings(fmt: str, path: Path, category: str, limit: int | None = None) -> Iterator[Drawing | Bad]:
    """Dispatch to the reader of ``fmt`` (``limit`` only matters for the npz split proportions)."""
    if fmt == SKETCHRNN:
        return read_npz(path, category, limit)
    if fmt == BINARY:
        return read_bin(path)
    return read_ndjson(path, category, raw=fmt == RAW)

