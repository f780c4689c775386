"""In-memory containers for sketch splits (no torch import).

A sketch is a float32 array ``(n_points, 3)``: absolute normalised ``x, y`` (the longer side of the
bounding box spans ``[-0.74, 0.74]``, as the reference implementation) and ``end_of_stroke``
(1 on the last point of every stroke), strokes in drawing order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SketchSplit:
    """One split as ragged arrays: sketch ``i`` is ``points[offsets[i]:offsets[i+1]]``."""

    name: str
    points: np.ndarray  # (total_points, 3) float32
    offsets: np.ndarray  # (n + 1,) int64
    labels: np.ndarray  # (n,) int64
    key_ids: np.ndarray | None = None  # (n,) str, where the source has them
    #: (total strokes,) int8 per-stroke label where the data has one (``demo_distractors``: 1 =
    #: evidence, 0 = distractor), sketch by sketch in drawing order; see :meth:`stroke_labels_of`.
    stroke_labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def sketch(self, i: int) -> np.ndarray:
        return self.points[self.offsets[i]:self.offsets[i + 1]]

    def stroke_labels_of(self, i: int) -> np.ndarray:
        """The per-stroke labels of sketch ``i`` (its strokes in drawing order)."""
        from benchmark.errors import BenchError

        if self.stroke_labels is None:
            raise BenchError(f"split {self.name!r} has no per-stroke labels; use a dataset that stores them "
                             f"(e.g. --data demo_distractors)")
        if getattr(self, "_stroke_offsets", None) is None:
            ends = (self.points[:, 2] > 0.5).astype(np.int64)
            cum = np.concatenate(([0], np.cumsum(ends)))
            self._stroke_offsets = cum[self.offsets]
        return self.stroke_labels[self._stroke_offsets[i]:self._stroke_offsets[i + 1]]

    def get(self, indices) -> list[np.ndarray]:
        """The sketches at ``indices`` (views, not copies)."""
        return [self.points[self.offsets[i]:self.offsets[i + 1]] for i in indices]

    @classmethod
    def from_sketches(cls, name: str, sketches: list[np.ndarray], labels, key_ids=None) -> "SketchSplit":
        lengths = np.fromiter((len(s) for s in sketches), dtype=np.int64, count=len(sketches))
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        points = (np.concatenate(sketches).astype(np.float32) if sketches
                  else np.zeros((0, 3), np.float32))
        return cls(name, points, offsets, np.asarray(labels, dtype=np.int64),
                   None if key_ids is None else np.asarray(key_ids))

    def checksum_update(self, h: "hashlib._Hash") -> None:
        for arr in (self.offsets, self.labels, self.points):
            h.update(np.ascontiguousarray(arr).tobytes())
        if self.stroke_labels is not None:  # only files that store them: older checksums unchanged
            h.update(np.ascontiguousarray(self.stroke_labels, dtype=np.int8).tobytes())


@dataclass
class SketchData:
    """A dataset opened for a run: category names and named splits (``train``, ``valid``, ``test``)."""

    name: str
    categories: list[str]
    splits: dict[str, SketchSplit]
    synthetic: bool = False
    source: str = ""
    checksum: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> SketchSplit:
        from benchmark.errors import BenchError

        if name not in self.splits:
            raise BenchError(f"dataset {self.name!r} has no split {name!r} (it has: {', '.join(self.splits)})")
        return self.splits[name]

    def compute_checksum(self) -> str:
        """sha256 over categories and every split's arrays (stable across processes and runs)."""
        h = hashlib.sha256("\n".join(self.categories).encode())
        for name in sorted(self.splits):
            h.update(name.encode())
            self.splits[name].checksum_update(h)
        return h.hexdigest()

    def identity(self) -> dict[str, Any]:
        """What a run record stores about the data."""
        return {"name": self.name, "categories": list(self.categories),
                "num_categories": len(self.categories),
                "splits": {k: len(v) for k, v in self.splits.items()},
                "checksum": self.checksum or self.compute_checksum(),
                "synthetic": self.synthetic, "source": self.source, **self.info}
