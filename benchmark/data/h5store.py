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
  1 = evidence (a stroke of the class drawing), 0 = distractor (a stroke of another sketch, see
  :mod:`benchmark.data.distractors`). Present in every split or in none; covered by ``content_checksum``.

File attributes: ``schema_version``, ``name``, ``synthetic``, ``created_by``, and JSON strings
``categories`` (label ``i`` is ``categories[i]``), ``normalisation``, ``source`` (format, folder,
sha256 of each source file), ``split`` (how splits were made), ``counts`` (kept, skipped by
reason, dropped degenerate), plus ``content_checksum``: the sha256 that
:meth:`benchmark.data.sketches.SketchData.compute_checksum` gives for the stored data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import sys
import tempfile
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.sketches import SketchData, SketchSplit
from benchmark.errors import BenchError

SCHEMA_VERSION = 1
SPLITS = ("train", "valid", "test")
_CHUNK_ROWS = 1 << 16
_COMPRESS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
#: a spill segment's fields (the points' float32 rows, source_xy int32 rows, lengths and labels
#: int64, key ids and countries as bytes back to back with their int32 lengths)
_FIELDS = ("points", "xy", "lengths", "labels", "keys", "key_lengths", "countries", "country_lengths")
_LENGTHS = {"keys": "key_lengths", "countries": "country_lengths"}
_FLUSH_ROWS = 1 << 18   # pending points + sketches before a spill writes them out
_COPY_ROWS = 1 << 20    # rows gathered a write when spills are streamed into the file


class Spill:
    """Sketches appended split by split to one temporary file ``<folder>/<stem>.spill``, written
    out every ``_FLUSH_ROWS`` points and sketches of a split as one segment (each field's bytes
    back to back, their places in :attr:`sizes`), so memory stays bounded whatever the input size.

    :class:`H5Writer` keeps one for :meth:`H5Writer.add`; ``bench data prepare`` fills one per
    category in its worker processes and hands :attr:`sizes` to :meth:`H5Writer.add_part`.
    """

    def __init__(self, folder: Path, stem: str, out: Path):
        self.folder, self.stem, self.out = Path(folder), stem, Path(out)
        #: per split: sketches, points, the widest key id / country (bytes) and the segments
        #: (per field its byte offset and size in the file)
        self.sizes = {s: {"sketches": 0, "points": 0, "key_width": 1, "country_width": 1, "segments": []}
                      for s in SPLITS}
        try:
            self._file = open(part_path(folder, stem), "wb")
        except OSError as e:
            raise self._error(e) from None
        self._written = 0
        self._pending: dict[str, tuple[list, ...]] = {s: tuple([] for _ in _FIELDS) for s in SPLITS}
        self._pending_rows = dict.fromkeys(SPLITS, 0)

    def add(self, split: str, points: np.ndarray, source_xy: np.ndarray, label: int,
            key_id: str = "", country: str = "") -> None:
        """Append one sketch: normalised ``points`` ``(n, 3)`` float32 and ``source_xy`` ``(n, 2)``."""
        self.add_block(split, np.asarray(points, np.float32), np.asarray(source_xy, np.int32),
                       np.array([len(points)], np.int64), np.array([label], np.int64),
                       [key_id.encode()], [country.encode()])

    def add_block(self, split: str, points: np.ndarray, source_xy: np.ndarray, lengths: np.ndarray,
                  labels: np.ndarray, key_ids: list[bytes], countries: list[bytes]) -> None:
        """Append sketches at once: their points ``(N, 3)`` float32 and ``source_xy`` ``(N, 2)`` int32
        back to back, ``lengths`` ``(n,)`` points each, ``labels`` ``(n,)``, key ids and countries."""
        if not len(lengths):
            return
        keys, countries_b = b"".join(key_ids), b"".join(countries)
        key_lengths = np.fromiter(map(len, key_ids), np.int32, len(key_ids))
        country_lengths = np.fromiter(map(len, countries), np.int32, len(countries))
        size = self.sizes[split]
        size["sketches"] += len(lengths)
        size["points"] += len(points)
        size["key_width"] = max(size["key_width"], int(key_lengths.max()))
        size["country_width"] = max(size["country_width"], int(country_lengths.max()))
        for pending, item in zip(self._pending[split], (points, source_xy, lengths, labels, keys,
                                                         key_lengths, countries_b, country_lengths)):
            pending.append(item)
        self._pending_rows[split] += len(points) + len(lengths)
        if self._pending_rows[split] >= _FLUSH_ROWS:
            self._flush(split)

    def _error(self, e: OSError) -> BenchError:
        return BenchError(f"cannot write {self.out}: {e.strerror or e} while writing temporary data in "
                          f"{self.folder.parent}; free some space (or choose another --out) and run again")

    def _flush(self, split: str) -> None:
        if not self._pending_rows[split]:
            return
        segment = {}
        try:
            for name, chunks in zip(_FIELDS, self._pending[split]):
                data = b"".join(chunks) if isinstance(chunks[0], bytes) else \
                    np.ascontiguousarray(np.concatenate(chunks)).tobytes()
                self._file.write(data)  # (ndarray.tofile can lose ENOSPC)
                segment[name] = (self._written, len(data))
                self._written += len(data)
                chunks.clear()
            self._file.flush()
        except OSError as e:  # disk full while spilling: the writer's with block removes the temporaries
            raise self._error(e) from None
        self.sizes[split]["segments"].append(segment)
        self._pending_rows[split] = 0

    def close(self) -> dict[str, dict[str, int]]:
        """Flush and close the files; returns :attr:`sizes`."""
        for split in SPLITS:
            self._flush(split)
        self.discard()
        return self.sizes

    def discard(self) -> None:
        """Close the file without flushing (after an error; the folder is removed by its owner)."""
        try:
            self._file.close()
        except OSError:  # only after a failed write (close flushes first): being cleaned up
            pass


#: in each temporary folder: ``host pid`` of the process writing it
OWNER = "owner"


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(out: Path) -> int:
    """Remove the temporary folders beside ``out`` (``.NAME.XXXXXXXX/``) whose writer, on this host, is
    no longer running (a prepare killed by SIGKILL or a power cut could not remove its own); say so on
    stderr and return how many. A folder of a live process, of another host or without an owner file is
    left alone."""
    removed = 0
    for folder in Path(out).parent.glob(f".{Path(out).name}.*"):
        try:
            host, pid = (folder / OWNER).read_text().split()
            pid = int(pid)
        except (OSError, ValueError):
            continue
        if host == socket.gethostname() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        print(f"removed {removed} temporary folder(s) beside {out} left by an interrupted prepare", file=sys.stderr)
    return removed


def part_path(folder: Path, stem: str) -> Path:
    return Path(folder) / f"{stem}.spill"


class H5Writer:
    """Collects sketches split by split in :class:`Spill` files (so memory stays bounded) and writes
    the file atomically on :meth:`commit`, streaming the spills into it chunk by chunk; leaving the
    ``with`` block without committing (an error, Ctrl-C) removes every temporary file. Temporaries
    live beside ``out``, in :attr:`folder`.

    Sketches come from :meth:`add` (one at a time, in this process) or from parts that other
    processes spilled into :attr:`folder` (:meth:`add_part`); the file holds them in the order
    they were added.
    """

    def __init__(self, out: Path, categories: list[str]):
        self.out = Path(out)
        self.categories = list(categories)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(self.out)
            self.folder = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}."))
            (self.folder / OWNER).write_text(_owner())
        except OSError as e:
            raise BenchError(f"cannot write {self.out}: {e}") from None
        self._parts: list[str] = []
        self._sizes: dict[str, dict[str, dict[str, int]]] = {}
        self._own: Spill | None = None
        # per-stroke labels (demo_distractors): given with add() for every sketch of a file or for none
        self._labelled: bool | None = None
        self._stroke_labels: dict[str, array] = {s: array("b") for s in SPLITS}

    def __enter__(self) -> "H5Writer":
        return self

    def __exit__(self, *exc) -> None:
        if self._own is not None:
            self._own.discard()
        shutil.rmtree(self.folder, ignore_errors=True)

    def count(self, split: str) -> int:
        return sum(self._part_sizes(stem)[split]["sketches"] for stem in self._parts)

    def _part_sizes(self, stem: str) -> dict[str, dict[str, int]]:
        return self._own.sizes if self._own is not None and stem == self._own.stem else self._sizes[stem]

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
            self._stroke_labels[split].extend(int(x) for x in stroke_labels)
        if self._own is None:
            self._own = Spill(self.folder, f"own{len(self._parts)}", self.out)
            self._parts.append(self._own.stem)
        self._own.add(split, points, source_xy, label, key_id, country)

    def add_part(self, stem: str, sizes: dict[str, dict[str, int]]) -> None:
        """Append the sketches of a closed :class:`Spill` ``stem`` in :attr:`folder` (``sizes``: its
        :attr:`Spill.sizes`); such sketches carry no per-stroke labels."""
        if self._labelled:
            raise ValueError("a file with per-stroke labels takes its sketches through add() only")
        self._labelled = False
        self._close_own()
        self._parts.append(stem)
        self._sizes[stem] = sizes

    def _close_own(self) -> None:
        if self._own is not None:
            self._sizes[self._own.stem] = self._own.close()
            self._own = None

    def commit(self, attrs: dict[str, Any]) -> str:
        """Write ``out`` (replacing any old file) and return its content checksum. ``attrs`` holds
        ``name``, ``synthetic`` and JSON-able ``source``, ``split``, ``counts``, ``normalisation``."""
        import h5py

        from benchmark import __version__

        self._close_own()
        digest = hashlib.sha256("\n".join(self.categories).encode())
        tmp = self.folder / "data.h5"
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

    def _segments(self, split: str, *fields: str):
        """The bytes of ``fields`` of each segment of ``split``, part after part (one segment:
        at most ``_FLUSH_ROWS`` rows, plus one add_block)."""
        for stem in self._parts:
            segments = self._sizes[stem][split]["segments"]
            if not segments:
                continue
            with open(part_path(self.folder, stem), "rb") as fh:
                for segment in segments:
                    out = []
                    for name in fields:
                        offset, size = segment[name]
                        fh.seek(offset)
                        out.append(fh.read(size))
                    yield out

    def _offsets(self, split: str):
        """``offsets`` of ``split`` (0, then the running sum of the sketches' lengths), chunk by chunk."""
        base = np.zeros(1, np.int64)
        yield base
        for lengths in self._chunks(split, "lengths", np.int64):
            chunk = base[-1] + np.cumsum(lengths)
            yield chunk
            base = chunk[-1:]

    def _chunks(self, split: str, field: str, dtype, width: int = 1):
        """``field`` of ``split``, chunk by chunk, as arrays of ``width`` columns."""
        for (data,) in self._segments(split, field):
            arr = np.frombuffer(data, dtype)
            yield arr.reshape(-1, width) if width > 1 else arr

    def _strings(self, split: str, field: str, width: int):
        """The key ids (``keys``) or ``countries`` of ``split``, chunk by chunk, as ``S<width>``."""
        for text, lens in self._segments(split, field, _LENGTHS[field]):
            lengths = np.frombuffer(lens, np.int32).astype(np.int64)
            flat = np.frombuffer(text, np.uint8)
            starts = np.cumsum(lengths) - lengths
            out = np.zeros((len(lengths), width), np.uint8)
            rows = np.repeat(np.arange(len(lengths)) * width - starts, lengths)
            out.reshape(-1)[rows + np.arange(len(flat))] = flat
            yield out.view(f"S{width}").reshape(-1)

    def _write_split(self, g, split: str, digest) -> None:
        sizes = [self._sizes[stem][split] for stem in self._parts]
        n, total = sum(s["sketches"] for s in sizes), sum(s["points"] for s in sizes)
        key_width = max([1, *(s["key_width"] for s in sizes)])
        country_width = max([1, *(s["country_width"] for s in sizes)])
        # as SketchData.compute_checksum: per split (sorted by name) its name, offsets, labels, points
        digest.update(split.encode())
        _copy(self._offsets(split), g.create_dataset("offsets", shape=(n + 1,), dtype="<i8"), digest)
        _copy(self._chunks(split, "labels", np.int64), _chunked(g, "labels", (n,), np.int64), digest)
        _copy(self._chunks(split, "points", np.float32, 3), g.create_dataset("points", shape=(total, 3), dtype="<f4"),
              digest)
        if self._labelled:
            stroke_labels = np.frombuffer(self._stroke_labels[split], dtype=np.int8).copy()
            _copy([stroke_labels], _chunked(g, "stroke_labels", stroke_labels.shape, np.int8), digest)
        _copy(self._strings(split, "keys", key_width), _chunked(g, "key_ids", (n,), f"S{key_width}"))
        _copy(self._strings(split, "countries", country_width), _chunked(g, "countries", (n,), f"S{country_width}"))
        _copy(self._chunks(split, "xy", np.int32, 2), _chunked(g, "source_xy", (total, 2), np.int32))


def _copy(chunks, ds, digest=None) -> None:
    """Write ``chunks`` one after another into ``ds`` (gathered to ``_COPY_ROWS`` rows a write)."""
    row, held, rows = 0, [], 0
    for chunk in itertools.chain(chunks, [None]):
        if chunk is not None:
            if digest is not None:
                digest.update(np.ascontiguousarray(chunk))
            held.append(chunk)
            rows += len(chunk)
        if held and (chunk is None or rows >= _COPY_ROWS):
            ds[row:row + rows] = held[0] if len(held) == 1 else np.concatenate(held)
            row, held, rows = row + rows, [], 0


def _chunked(g, name: str, shape: tuple[int, ...], dtype):
    chunks = (min(max(shape[0], 1), _CHUNK_ROWS), *shape[1:])
    return g.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, maxshape=(None, *shape[1:]), **_COMPRESS)


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
    """The file's attributes, JSON ones decoded, after checking it is a readable data file of a schema
    this version reads that carries its ``content_checksum`` (a file without one is refused: its data
    could not be verified)."""
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
    if not attrs.get("content_checksum"):
        raise BenchError(f"{path}: has no content_checksum attribute, so its data cannot be verified (not a file "
                         f"sketchxai-bench wrote, or one that was altered); re-prepare it with "
                         f"`bench data prepare --source DIR --out {path} --force`")
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
    """One streaming pass over every split's points: reject NaN, infinity, absurd magnitudes and
    end-of-stroke flags other than 0 and 1 (naming the split and sketch) and recompute the content checksum, which must equal the stored
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
            flags = (chunk[:, 2] != 0) & (chunk[:, 2] != 1)
            if flags.any():
                row = start + int(np.flatnonzero(flags)[0])
                sketch = int(np.searchsorted(split.offsets, row, side="right")) - 1
                raise _fail(path, f"split {name!r} sketch {sketch} has an end-of-stroke flag of "
                                  f"{chunk[row - start, 2]:g} (flags are 0 or 1)")
            digest.update(chunk.tobytes())
        if split.stroke_labels is not None:
            digest.update(np.ascontiguousarray(split.stroke_labels, dtype=np.int8).tobytes())
    actual = digest.hexdigest()
    if stored != actual:
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
    checksum = verify_content(path, categories, splits, attrs["content_checksum"])
    return SketchData(
        name=attrs.get("name", "quickdraw"), categories=categories, splits=splits,
        synthetic=attrs["synthetic"], source=str(path), checksum=checksum,
        info={"format": attrs["source"].get("format", ""), "schema_version": int(attrs["schema_version"])},
    )
