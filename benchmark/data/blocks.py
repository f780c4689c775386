"""Fast reading of official ndjson files: lines parsed with orjson and checked in blocks.

:func:`read_blocks` yields the drawings of a file in file order, as :class:`Block` runs of
well-formed drawings (their points built and checked with whole-block numpy operations) and, for
any line the fast path does not take, the :class:`~benchmark.data.formats.Drawing` or
:class:`~benchmark.data.formats.Bad` that the per-line reader of :mod:`benchmark.data.formats`
gives for it. The fast path takes a line only when everything in it is what a well-formed file
holds (a JSON object with ``key_id``, the file's ``word`` and a list of strokes of equal-length,
non-empty coordinate lists of plain integers (simplified) or numbers (raw), below 2**53); a
malformed line, a bad stroke, a float in a simplified file or a NaN goes through the per-line
reader (stdlib ``json``), so the drawings kept, the bad ones and their messages are exactly those
of reading line by line. :func:`normalise_rows` normalises many drawings at once, bit for bit as
:func:`benchmark.data.normalise.normalise` does one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import orjson

from benchmark.data.formats import Bad, Drawing, gzip_errors, open_ndjson, parse_line
from benchmark.data.normalise import CENTRE, DEGENERATE_DIAG2, SCALE, simplify_raw_many

#: lines read and parsed at a time (raw drawings resample to ~1,000 points each: fewer a block)
BLOCK_LINES = 2048
RAW_BLOCK_LINES = 256
_EXACT = 2.0**53  # larger magnitudes: orjson and json may disagree on int vs float


@dataclass
class Block:
    """Consecutive well-formed drawings of one file. ``points`` ``(N, 3)`` int32 absolute x, y
    (source units; a raw file's simplified as Google did) and end-of-stroke, drawing after drawing;
    ``starts``/``lengths`` ``(n,)`` each drawing's first row and point count; ``degenerate`` ``(n,)``
    drawings with a zero-size bounding box (their rows are empty)."""

    key_ids: list[str]
    countries: list[str]
    points: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    degenerate: np.ndarray

    def __len__(self) -> int:
        return len(self.key_ids)


def rows_of(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Row indices of the drawings ``starts[i]:starts[i] + lengths[i]``, back to back."""
    total = int(lengths.sum())
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)


def normalise_rows(xy: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(N, 2)`` float32 :func:`~benchmark.data.normalise.normalise` of each drawing of ``xy``
    (``lengths`` points each, none degenerate), the same operations element by element."""
    xy = np.asarray(xy, dtype=np.float64)
    starts = np.cumsum(lengths) - lengths
    lo = np.minimum.reduceat(xy, starts, axis=0)
    size = np.maximum.reduceat(xy, starts, axis=0) - lo
    longer = size.max(1)
    per_row = np.repeat(np.arange(len(lengths)), lengths)
    v = (xy - lo[per_row]) / longer[per_row, None] * SCALE
    v += (CENTRE - size / longer[:, None] * SCALE / 2)[per_row]
    return (2 * v - 1).astype(np.float32)


class _Run:
    """The fast-path lines collected so far (flushed as one :class:`Block`)."""

    def __init__(self, raw: bool):
        self.raw = raw
        self.lines: list[tuple[int, bytes]] = []
        self.key_ids: list[str] = []
        self.countries: list[str] = []
        self.xs: list = []
        self.ys: list = []
        self.ts: list = []
        self.stroke_lengths: list[int] = []
        self.strokes: list[int] = []  # strokes per drawing

    def take(self, lineno: int, line: bytes, obj, category: str) -> bool:
        """Add ``obj`` if the fast path can take it (else leave the run as it was)."""
        if type(obj) is not dict or "key_id" not in obj or obj.get("word", category) != category:
            return False
        drawing = obj.get("drawing")
        if type(drawing) is not list or not drawing:
            return False
        xs, ys, ts, lengths = self.xs, self.ys, self.ts, self.stroke_lengths
        marks = len(xs), len(ts), len(lengths)
        want = 3 if self.raw else 2
        for stroke in drawing:  # one pass: values appended as checked, undone on a bad stroke
            if type(stroke) is not list or len(stroke) != want:
                break
            x, y = stroke[0], stroke[1]
            if type(x) is not list or type(y) is not list:
                break
            n = len(x)
            if not n or len(y) != n:
                break
            if want == 3:
                t = stroke[2]
                if type(t) is not list or len(t) != n:
                    break
                ts += t
            xs += x
            ys += y
            lengths.append(n)
        else:
            self.strokes.append(len(lengths) - marks[2])
            self.lines.append((lineno, line))
            self.key_ids.append(str(obj["key_id"]))
            self.countries.append(str(obj.get("countrycode", "")))
            return True
        del xs[marks[0]:], ys[marks[0]:], ts[marks[1]:], lengths[marks[2]:]
        return False
    def _coordinates(self) -> np.ndarray | None:
        """``(N, 2)`` float64 x, y of the run, or None where a value is not what the fast path takes."""
        allowed = {float, int} if self.raw else {int}
        if not set(map(type, self.xs)) | set(map(type, self.ys)) | set(map(type, self.ts)) <= allowed:
            return None
        try:
            xy = np.array([self.xs, self.ys], dtype=np.float64).T
            if self.raw:
                t = np.array(self.ts, dtype=np.float64)
                if not (np.abs(t) < _EXACT).all():
                    return None
        except OverflowError:
            return None
        return xy if (np.abs(xy) < _EXACT).all() else None

    def flush(self, path: Path, category: str) -> Iterator[Block | Drawing | Bad]:
        if not self.lines:
            return
        xy = self._coordinates()
        if xy is None:  # something unusual in the run: line by line, with the exact messages
            for lineno, line in self.lines:
                yield parse_line(path, lineno, line, category, self.raw)
        else:
            yield self._block(xy)
        self.__init__(self.raw)

    def _block(self, xy: np.ndarray) -> Block:
        stroke_lengths = np.array(self.stroke_lengths, dtype=np.int64)
        strokes = np.array(self.strokes, dtype=np.int64)
        first_stroke = np.cumsum(strokes) - strokes
        lengths = np.add.reduceat(stroke_lengths, first_stroke)
        starts = np.cumsum(lengths) - lengths
        size = np.maximum.reduceat(xy, starts, axis=0) - np.minimum.reduceat(xy, starts, axis=0)
        degenerate = (size * size).sum(1) < DEGENERATE_DIAG2
        if self.raw:
            points, lengths = _simplified(xy, stroke_lengths, strokes, degenerate)
        else:
            points = np.zeros((len(xy), 3), dtype=np.int32)
            points[:, :2] = xy
            points[np.cumsum(stroke_lengths) - 1, 2] = 1
            if degenerate.any():
                points = points[np.repeat(~degenerate, lengths)]
                lengths = np.where(degenerate, 0, lengths)
        return Block(self.key_ids, self.countries, points, np.cumsum(lengths) - lengths, lengths, degenerate)


def _simplified(xy, stroke_lengths, strokes, degenerate) -> tuple[np.ndarray, np.ndarray]:
    """The run's non-degenerate drawings simplified as Google did (all at once,
    :func:`~benchmark.data.normalise.simplify_raw_many`): ``(N, 3)`` points and lengths."""
    good = ~degenerate
    per_point = np.repeat(np.repeat(good, strokes), stroke_lengths)
    lengths = np.zeros(len(strokes), dtype=np.int64)
    if not good.any():
        return np.zeros((0, 3), np.int32), lengths
    xy_good, simplified = xy[per_point], stroke_lengths[np.repeat(good, strokes)]
    out, out_lengths = simplify_raw_many(xy_good, simplified, strokes[good])
    points = np.zeros((len(out), 3), dtype=np.int32)
    points[:, :2] = out
    points[np.cumsum(out_lengths) - 1, 2] = 1
    lengths[good] = np.add.reduceat(out_lengths, np.cumsum(strokes[good]) - strokes[good])
    return points, lengths


def read_blocks(path: Path, category: str, raw: bool,
                lines_wanted: Callable[[], int | None] | None = None) -> Iterator[Block | Drawing | Bad]:
    """The drawings of an official ndjson file in file order (see the module docstring).

    ``lines_wanted``, called before each block, caps the lines it reads (``None``: no cap; 0 or
    less: stop): a reader that keeps at most N more drawings passes N, as a line holds at most one
    drawing, so no line past the last one it can keep is read, parsed or simplified."""
    run = _Run(raw)
    lineno = 0
    size = RAW_BLOCK_LINES if raw else BLOCK_LINES
    with gzip_errors(path), open_ndjson(path) as fh:
        while True:
            cap = lines_wanted() if lines_wanted is not None else None
            if cap is not None and cap < 1:
                return
            if not (lines := list(islice(fh, size if cap is None else min(size, cap)))):
                return
            for line in lines:
                lineno += 1
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    obj = None
                if obj is None or not run.take(lineno, line, obj, category):
                    yield from run.flush(path, category)
                    yield parse_line(path, lineno, line, category, raw)
            yield from run.flush(path, category)
