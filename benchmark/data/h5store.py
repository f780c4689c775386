"""The prepared-data HDF5 file: one file, three splits, made for fast random access by many
processes at once.

Schema (``schema_version`` 1), per split group ``train``, ``valid``, ``test``:

- ``points`` ``(N, 3)`` float32 ``x, y, end_of_stroke``, normalised as the reference
  (:mod:`benchmark.data.normalise`); sketch ``i`` is ``points[offsets[i]:offsets[i+1]]``.
  Stored *contiguous and uncompressed* so readers memory-map it: a random sketch costs one slice of
  the page cache, shared by every process reading the file, with no HDF5 call and no decompression.
- ``offsets`` ``(n + 1,)`` int64, contiguous.
- ``labels`` ``(n,)`` int64; ``key_ids`` ``(n,)`` bytes; ``countries`` ``(n,)`` bytes;
  ``source_xy`` ``(N, 2)`` int32 (the source's integer coordinates: 0..255 for QuickDraw's
  simplified files): chunked and compressed (gzip, shuffle), as they compress well and are read whole.
- optional ``stroke_labels`` ``(total strokes,)`` int8, chunked and compressed: one label per stroke,
  sketch by sketch in drawing order (sketch ``i``'s strokes follow those of sketches ``0..i-1``; a
  stroke ends at a point with ``end_of_stroke = 1``). The ``demo_distractors`` dataset stores
  1 = evidence (a stroke of the class drawing), 0 = distractor (a class-independent stroke added at
  a random place). Present in every split or in none; covered by ``content_checksum``.

File attributes: ``schema_version``, ``name``, ``synthetic``, ``created_by``, and JSON strings
``categories`` (label ``i`` is ``categories[i]``), ``normalisation``, ``source`` (format, folder,
sha256 of each source file), ``split`` (how splits were made), ``counts`` (kept, skipped by
reason, dropped degenerate), plus ``content_checksum``: the sha256 that
:meth:`benchmark.data.sketches.SketchData.compute_checksum` gives for the stored data.
"""

from __future__ import annotations

import hashlib
import json
from array import array
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.sketches import SketchData, SketchSplit
from benchmark.errors import BenchError

SCHEMA_VERSION = 1
SPLITS = ("train", "valid", "test")
_CHUNK_ROWS = 1 << 16
_COMPRESS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


class H5Writer:
    """Collects sketches split by split (spilling points to disk, so memory stays small) and
    writes the file atomically on :meth:`commit`; leaving the ``with`` block without committing
    (an error, Ctrl-C) removes every temporary file. Temporaries live beside ``out``."""

    def __init__(self, out: Path, categories: list[str]):
        self.out = Path(out)
        self.categories = list(categories)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}."))
        except OSError as e:
            raise BenchError(f"cannot write {self.out}: {e}") from None
        self._spill = {s: (open(self._tmp / f"{s}.points", "wb"), open(self._tmp / f"{s}.xy", "wb"))
                       for s in SPLITS}
        self._meta: dict[str, dict[str, Any]] = {
            s: {"lengths": array("q"), "labels": array("q"), "key_ids": [], "countries": [],
                "stroke_labels": array("b")} for s in SPLITS}
        self._labelled: bool | None = None  # whether sketches come with per-stroke labels (all or none)
        self._pending: dict[str, tuple[list, list]] = {s: ([], []) for s in SPLITS}
        self._pending_points = dict.fromkeys(SPLITS, 0)

    def __enter__(self) -> "H5Writer":
        return self

    def __exit__(self, *exc) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        self._close_spill()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _close_spill(self) -> None:
        for fhs in self._spill.values():
            for fh in fhs:
                try:
                    fh.close()
                except OSError:  # only after a failed write (commit flushes first): being cleaned up
                    pass

    def _flush(self, split: str) -> None:
        try:
            for chunks, fh in zip(self._pending[split], self._spill[split]):
                if chunks:
                    fh.write(np.ascontiguousarray(np.concatenate(chunks)).data)  # (tofile can lose ENOSPC)
                    chunks.clear()
                fh.flush()
        except OSError as e:  # disk full while spilling: the with block removes the temporaries
            raise BenchError(f"cannot write {self.out}: {e.strerror or e} while writing temporary data in "
                             f"{self._tmp.parent}; free some space (or choose another --out) and run again") from None
        self._pending_points[split] = 0

    def count(self, split: str) -> int:
        return len(self._meta[split]["labels"])

    def add(self, split: str, points: np.ndarray, source_xy: np.ndarray, label: int,
            key_id: str = "", country: str = "", stroke_labels=None) -> None:
        """Append one sketch: normalised ``points`` ``(n, 3)`` float32 and ``source_xy`` ``(n, 2)``;
        ``stroke_labels``: one int per stroke, given for every sketch of the file or for none."""
        labelled = stroke_labels is not None
        if self._labelled is None:
            self._labelled = labelled
        if labelled != self._labelled:
            raise ValueError("stroke_labels must be given for every sketch of a file or for none")
        if labelled:
            strokes = int((np.asarray(points)[:, 2] > 0.5).sum())
            if len(stroke_labels) != strokes:
                raise ValueError(f"{len(stroke_labels)} stroke labels for a sketch of {strokes} strokes")
            self._meta[split]["stroke_labels"].extend(int(x) for x in stroke_labels)
        pending_points, pending_xy = self._pending[split]
        pending_points.append(np.asarray(points, dtype=np.float32))
        pending_xy.append(np.asarray(source_xy, dtype=np.int32))
        self._pending_points[split] += len(points)
        if self._pending_points[split] >= _CHUNK_ROWS * 4:
            self._flush(split)
        meta = self._meta[split]
        meta["lengths"].append(len(points))
        meta["labels"].append(label)
        meta["key_ids"].append(key_id.encode())
        meta["countries"].append(country.encode())

    def commit(self, attrs: dict[str, Any]) -> str:
        """Write ``out`` (replacing any old file) and return its content checksum. ``attrs`` holds
        ``name``, ``synthetic`` and JSON-able ``source``, ``split``, ``counts``, ``normalisation``."""
        import h5py

        from benchmark import __version__

        for split in SPLITS:
            self._flush(split)
        self._close_spill()
        digest = hashlib.sha256("\n".join(self.categories).encode())
        tmp = self._tmp / "data.h5"
        try:
            with h5py.File(tmp, "w") as f:
                for split in sorted(SPLITS):
                    self._write_split(f.create_group(split), split, digest)
                f.attrs["schema_version"] = SCHEMA_VERSION
                f.attrs["name"] = attrs.get("name", "quickdraw")
                f.attrs["synthetic"] = bool(attrs.get("synthetic", False))
                f.attrs["created_by"] = f"sketchxai-bench {__version__}"
                f.attrs["categories"] = json.dumps(self.categories)
                for key in ("normalisation", "source", "split", "counts"):
                    f.attrs[key] = json.dumps(attrs.get(key, {}))
                f.attrs["content_checksum"] = digest.hexdigest()
            os.replace(tmp, self.out)
        except OSError as e:  # disk full, permissions: nothing is left behind
            raise BenchError(f"cannot write {self.out}: {e.strerror or e}; free some space (or fix permissions) "
                             "and run again; nothing was changed") from None
        return digest.hexdigest()

    def _spilled(self, name: str, dtype, shape: tuple[int, int]) -> np.ndarray:
        if shape[0] == 0:
            return np.zeros(shape, dtype)
        return np.memmap(self._tmp / name, dtype=dtype, mode="r", shape=shape)

    def _write_split(self, g, split: str, digest) -> None:
        meta = self._meta[split]
        lengths = np.frombuffer(meta["lengths"], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        labels = np.frombuffer(meta["labels"], dtype=np.int64).copy()
        total = int(offsets[-1])
        points = self._spilled(f"{split}.points", np.float32, (total, 3))
        source_xy = self._spilled(f"{split}.xy", np.int32, (total, 2))
        # as SketchData.compute_checksum: per split (sorted by name) its name, offsets, labels, points
        digest.update(split.encode())
        for arr in (offsets, labels, points):
            digest.update(np.ascontiguousarray(arr))
        if self._labelled:
            stroke_labels = np.frombuffer(meta["stroke_labels"], dtype=np.int8).copy()
            digest.update(stroke_labels.tobytes())
            _chunked(g, "stroke_labels", stroke_labels)
        g.create_dataset("points", data=points)
        g.create_dataset("offsets", data=offsets)
        _chunked(g, "labels", labels)
        _chunked(g, "key_ids", np.array(meta["key_ids"], dtype=f"S{_width(meta['key_ids'])}"))
        _chunked(g, "countries", np.array(meta["countries"], dtype=f"S{_width(meta['countries'])}"))
        _chunked(g, "source_xy", source_xy)


def _width(items: list[bytes]) -> int:
    return max([1, *map(len, items)])


def _chunked(g, name: str, data: np.ndarray) -> None:
    chunks = (min(max(len(data), 1), _CHUNK_ROWS), *data.shape[1:])
    g.create_dataset(name, data=data, chunks=chunks, maxshape=(None, *data.shape[1:]), **_COMPRESS)


def is_bench_file(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file written by sketchxai-bench (safe to replace)."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "schema_version" in f.attrs and "content_checksum" in f.attrs
    except Exception:  # noqa: BLE001 - not HDF5, unreadable: not ours
        return False


def _fail(path: Path, why: str) -> BenchError:
    return BenchError(f"{path}: {why}; re-create it with `bench data prepare` (or delete it if it is a cache)")


def read_attrs(path: Path) -> dict[str, Any]:
    """The file's attributes, JSON ones decoded, after checking it is a readable data file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: no such file; make one with `bench data prepare`")
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
    except OSError as e:
        raise _fail(path, f"not a readable HDF5 file (truncated or corrupt?): {e}") from None
    if "schema_version" not in attrs:
        raise _fail(path, "not a sketchxai-bench data file (no schema_version attribute)")
    if int(attrs["schema_version"]) > SCHEMA_VERSION:
        raise BenchError(f"{path}: written by a newer sketchxai-bench (schema "
                         f"{int(attrs['schema_version'])}; this version reads {SCHEMA_VERSION}); upgrade")
    out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    for key in ("categories", "normalisation", "source", "split", "counts"):
        out[key] = json.loads(out.get(key, "{}"))
    out["synthetic"] = bool(out.get("synthetic", False))
    return out


def _read_split(f, path: Path, name: str, num_classes: int, lazy: bool) -> SketchSplit:
    if name not in f or any(k not in f[name] for k in ("points", "offsets", "labels")):
        raise _fail(path, f"split {name!r} is missing or incomplete")
    g = f[name]
    offsets = g["offsets"][()]
    labels = g["labels"][()]
    ds = g["points"]
    if (ds.ndim != 2 or ds.shape[1] != 3 or len(offsets) != len(labels) + 1 or offsets[0] != 0
            or offsets[-1] != ds.shape[0] or (np.diff(offsets) < 0).any()):
        raise _fail(path, f"split {name!r} has inconsistent points/offsets/labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise _fail(path, f"split {name!r} has labels outside 0..{num_classes - 1}")
    start = ds.id.get_offset()
    if lazy and start is not None and ds.chunks is None and ds.dtype == np.dtype("<f4"):
        if os.path.getsize(path) < start + ds.size * 4:
            raise _fail(path, "file is truncated")
        # a plain ndarray view: slicing a np.memmap subclass costs several microseconds more
        points = np.memmap(path, dtype="<f4", mode="r", offset=start, shape=ds.shape).view(np.ndarray)
    else:
        points = ds[()]
    key_ids = g["key_ids"][()].astype(str) if "key_ids" in g else None
    stroke_labels = None
    if "stroke_labels" in g:
        stroke_labels = g["stroke_labels"][()].astype(np.int8)
        strokes = int((points[:, 2] > 0.5).sum())
        if stroke_labels.ndim != 1 or len(stroke_labels) != strokes:
            raise _fail(path, f"split {name!r} has {len(stroke_labels)} stroke labels for {strokes} strokes")
    return SketchSplit(name, points, offsets, labels, key_ids, stroke_labels)


#: Normalised coordinates lie in [-1, 1]; anything beyond this is not a sketch.
MAX_ABS_COORDINATE = 1e3
_VERIFY_ROWS = 1 << 20


def verify_content(path: Path, categories: list[str], splits: dict[str, SketchSplit], stored: str) -> str:
    """One streaming pass over every split's points: reject NaN, infinity and absurd magnitudes
    (naming the split and sketch) and recompute the content checksum, which must equal the stored
    one; returns it, so a record's checksum always describes the data that was read."""
    digest = hashlib.sha256("\n".join(categories).encode())
    for name in sorted(splits):
        split = splits[name]
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(split.offsets).tobytes())
        digest.update(np.ascontiguousarray(split.labels).tobytes())
        points = split.points
        for start in range(0, len(points), _VERIFY_ROWS):
            chunk = np.ascontiguousarray(points[start:start + _VERIFY_ROWS])
            bad = ~np.isfinite(chunk) | (np.abs(chunk) > MAX_ABS_COORDINATE)
            if bad.any():
                row = start + int(np.flatnonzero(bad.any(1))[0])
                sketch = int(np.searchsorted(split.offsets, row, side="right")) - 1
                raise _fail(path, f"split {name!r} sketch {sketch} holds a non-finite or absurd coordinate "
                                  f"({chunk[row - start].tolist()}; coordinates are normalised to [-1, 1])")
            digest.update(chunk.tobytes())
        if split.stroke_labels is not None:
            digest.update(np.ascontiguousarray(split.stroke_labels, dtype=np.int8).tobytes())
    actual = digest.hexdigest()
    if stored and stored != actual:
        raise _fail(path, f"its data do not match its content_checksum (stored {stored[:12]}, read "
                          f"{actual[:12]}): the file was modified or is corrupt")
    return actual


def open_h5(path: str | os.PathLike, lazy: bool = False) -> SketchData:
    """Open a prepared file as :class:`SketchData`, its points checked and its checksum verified
    (:func:`verify_content`, one sequential pass).

    With ``lazy`` the splits' ``points`` are read-only views of a memory map of the file (nothing is read
    until a sketch is used: ``split.get(indices)`` touches only those sketches); otherwise they are
    read into memory. Offsets, labels and key ids are always read.
    """
    import h5py

    path = Path(path)
    attrs = read_attrs(path)
    categories = attrs["categories"]
    try:
        with h5py.File(path, "r") as f:
            splits = {s: _read_split(f, path, s, len(categories), lazy) for s in SPLITS if s in f}
    except OSError as e:
        raise _fail(path, f"cannot read its data (truncated or corrupt?): {e}") from None
    if not splits:
        raise _fail(path, "it holds no split")
    checksum = verify_content(path, categories, splits, attrs.get("content_checksum", ""))
    return SketchData(
        name=attrs.get("name", "quickdraw"), categories=categories, splits=splits,
        synthetic=attrs["synthetic"], source=str(path), checksum=checksum,
        info={"format": attrs["source"].get("format", ""), "schema_version": int(attrs["schema_version"])},
    )
