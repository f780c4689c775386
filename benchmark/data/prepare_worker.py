"""One category of ``bench data prepare``: read its file, check, de-duplicate, split and
normalise its drawings, and spill them (:class:`benchmark.data.h5store.Spill`) for the writer.

:func:`prepare_category` runs in a worker process (one category at a time) or in the calling
process. Its memory is bounded by the size of a block of lines (:data:`benchmark.data.blocks.BLOCK_LINES`)
and the spill's flush threshold, plus the key ids it has seen in this category (for duplicates,
about 0.1 KB a drawing of the category): it does not grow with the number of categories.
"""

from __future__ import annotations

import hashlib
import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.data.blocks import Block, normalise_rows, read_blocks, rows_of
from benchmark.data.formats import RAW, SIMPLIFIED, SKETCHRNN, Bad, Drawing, read_drawings
from benchmark.data.h5store import Spill
from benchmark.data.normalise import normalised_sketch
from benchmark.errors import BenchError

EXAMPLES = 5
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def split_of(key_id: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """``train``, ``valid`` or ``test`` from the first 8 bytes of sha256(key_id) as a fraction."""
    u = int.from_bytes(hashlib.sha256(key_id.encode()).digest()[:8], "big") / 2.0**64
    if u < fractions[0]:
        return "train"
    return "valid" if u < fractions[0] + fractions[1] else "test"


def peak_rss_kb() -> int:
    """This process's peak resident memory in KiB: ``VmHWM`` of ``/proc/self/status`` (reset by
    exec, unlike getrusage's ``ru_maxrss``, which a child inherits from its parent), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class CategoryJob:
    """What :func:`prepare_category` does: ``path`` (format ``fmt``) -> spill ``stem`` in ``folder``."""

    fmt: str
    path: Path
    category: str
    label: int
    limit: int | None
    fractions: tuple[float, float, float]
    on_error: str
    folder: Path
    stem: str
    out: Path


@dataclass
class CategoryResult:
    """Counts of one category and its spill's sizes (:attr:`benchmark.data.h5store.Spill.sizes`)."""

    category: str
    stem: str
    sizes: dict
    kept: int = 0
    degenerate: int = 0
    duplicates: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    peak_rss_kb: int = 0


class _Category:
    def __init__(self, job: CategoryJob):
        self.job = job
        self.result = CategoryResult(job.category, job.stem, {})
        self.seen: dict[str, int] = {}  # key_id -> hash of its points
        self.spill = Spill(job.folder, job.stem, job.out)

    def full(self) -> bool:
        job = self.job
        return job.fmt != SKETCHRNN and job.limit is not None and self.result.kept >= job.limit

    def lines_wanted(self) -> int | None:
        """At most how many more lines are worth reading: a line holds one drawing at most."""
        return None if self.job.limit is None else self.job.limit - self.result.kept

    def bad(self, item: Bad) -> None:
        if self.job.on_error == "fail":
            raise BenchError(f"{item} (use --on-error skip to skip bad drawings)")
        self.result.skipped[item.kind] += 1
        if len(self.result.examples) < EXAMPLES:
            self.result.examples.append(str(item))

    def new(self, key_id: str, points: np.ndarray) -> bool:
        """Whether a drawing is kept as far as duplicates go (counts repeats, reports clashes)."""
        digest = hash(points.tobytes())
        if key_id in self.seen:
            if self.seen[key_id] == digest:  # Google's raw files repeat some lines
                self.result.duplicates += 1
            else:
                self.bad(Bad(str(self.job.path), "duplicate_key_id",
                             f"key_id {key_id} seen before with another drawing"))
            return False
        self.seen[key_id] = digest
        return True

    def drawing(self, item: Drawing | Bad) -> None:
        if isinstance(item, Bad):
            if item.kind == "degenerate":
                self.result.degenerate += 1
            else:
                self.bad(item)
            return
        if self.new(item.key_id, item.points):
            split = item.split or split_of(item.key_id, self.job.fractions)
            self.spill.add(split, normalised_sketch(item.points), item.points[:, :2], self.job.label,
                           item.key_id, item.country)
            self.result.kept += 1

    def block(self, block: Block) -> None:
        kept = []
        for j in range(len(block)):
            if block.degenerate[j]:
                self.result.degenerate += 1
                continue
            start = block.starts[j]
            if self.new(block.key_ids[j], block.points[start:start + block.lengths[j]]):
                kept.append(j)
                self.result.kept += 1
                if self.full():
                    break
        if not kept:
            return
        kept = np.array(kept)
        splits = np.array([split_of(block.key_ids[j], self.job.fractions) for j in kept])
        for split in ("train", "valid", "test"):
            take = kept[splits == split]
            if not len(take):
                continue
            lengths = block.lengths[take]
            points = block.points[rows_of(block.starts[take], lengths)]
            normalised = np.empty(points.shape, dtype=np.float32)
            normalised[:, :2] = normalise_rows(points[:, :2], lengths)
            normalised[:, 2] = points[:, 2]
            self.spill.add_block(split, normalised, points[:, :2], lengths.astype(np.int64),
                                 np.full(len(take), self.job.label, dtype=np.int64),
                                 [block.key_ids[j].encode() for j in take],
                                 [block.countries[j].encode() for j in take])

    def run(self) -> CategoryResult:
        job = self.job
        items = (read_blocks(job.path, job.category, job.fmt == RAW, self.lines_wanted)
                 if job.fmt in (SIMPLIFIED, RAW)
                 else read_drawings(job.fmt, job.path, job.category, job.limit))
        try:
            for item in items:
                if isinstance(item, Block):
                    self.block(item)
                else:
                    self.drawing(item)
                if self.full():
                    break
            self.result.sizes = self.spill.close()
        except BaseException:
            self.spill.discard()
            raise
        self.result.peak_rss_kb = peak_rss_kb()
        return self.result


def prepare_category(job: CategoryJob) -> CategoryResult:
    """Read, check and spill one category's drawings (see the module docstring). With ``on_error``
    ``"fail"`` the first bad drawing raises :class:`BenchError` naming its file and line."""
    return _Category(job).run()
