"""``bench data prepare``: QuickDraw files in a folder -> one HDF5 file with train/valid/test.

The source format is detected from the folder (``.ndjson`` simplified or raw by the presence of
timing, ``.npz``, ``.bin``). npz input keeps its published splits; every other format is split by
a hash of ``key_id``, so no drawing lands in two splits and adding categories (or raising
``max_per_category``) never moves a drawing to another split.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.categories import quickdraw_names
from benchmark.data.formats import BINARY, SIMPLIFIED, SKETCHRNN, Bad, ndjson_kind, read_drawings
from benchmark.data.h5store import H5Writer, is_bench_file
from benchmark.data.normalise import NORMALISATION, normalised_sketch
from benchmark.progress import bar as progress_bar
from benchmark.errors import BenchError, unknown_name

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
ON_ERROR = ("fail", "skip")
_SUFFIXES = {".ndjson": None, ".npz": SKETCHRNN, ".bin": BINARY}
_EXAMPLES = 5


def split_of(key_id: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """``train``, ``valid`` or ``test`` from the first 8 bytes of sha256(key_id) as a fraction."""
    u = int.from_bytes(hashlib.sha256(key_id.encode()).digest()[:8], "big") / 2.0**64
    if u < fractions[0]:
        return "train"
    return "valid" if u < fractions[0] + fractions[1] else "test"


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> train, valid, test fractions (non-negative, summing to 1)."""
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 0 or abs(sum(parts) - 1) > 1e-6 or parts[0] == 0:
        raise BenchError(f"--split-fractions {text!r}: give three non-negative numbers "
                         "train,valid,test summing to 1, e.g. 0.8,0.1,0.1")
    return parts  # type: ignore[return-value]


def locate_sources(source: Path, categories: list[str]) -> tuple[str, dict[str, Path]]:
    """The source format and each category's file in ``source``; clear errors when some are missing."""
    if not source.is_dir():
        raise BenchError(f"--source {source}: no such folder")
    found = {suf: {p.stem: p for p in source.glob(f"*{suf}") if p.is_file()} for suf in _SUFFIXES}
    usable = [suf for suf, files in found.items() if any(c in files for c in categories)]
    if len(usable) > 1:
        raise BenchError(f"{source} holds {' and '.join(usable)} files for these categories; "
                         "keep one format per folder")
    if not any(found.values()):
        sub = [str(p.relative_to(source)) for p in source.glob("*/*") if p.is_dir()][:3]
        raise BenchError(f"{source} holds no .ndjson, .npz or .bin files"
                         + (f" (did you mean a subfolder such as {source / sub[0]}?)" if sub else ""))
    suffix = usable[0] if usable else max(found, key=lambda s: len(found[s]))
    files = found[suffix]
    missing = [c for c in categories if c not in files]
    unknown = [c for c in missing if c not in quickdraw_names()]
    if unknown:
        raise unknown_name("category", unknown[0], set(quickdraw_names()) | set(files),
                           hint=f"(no {unknown[0]}{suffix} in {source})")
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise BenchError(f"{source} has no {suffix} file for {', '.join(missing[:5])}{more}; get them "
                         f"with `bench data download --dest {source}` or choose other --categories")
    fmt = _SUFFIXES[suffix]
    if fmt is None:
        kinds = (ndjson_kind(files[c]) for c in categories)
        fmt = next((k for k in kinds if k is not None), SIMPLIFIED)
    return fmt, {c: files[c] for c in categories}


def check_out(source: Path, out: Path, force: bool = False) -> None:
    """Refuse an ``out`` inside the source folder, or one that would replace a file that is not a
    sketchxai-bench data file (unless ``force``)."""
    if source.is_dir() and out.resolve().is_relative_to(source.resolve()):
        raise BenchError(f"--out {out} is inside the source folder {source}: write the prepared file "
                         "somewhere else (the sources are never replaced)")
    if out.is_dir():
        raise BenchError(f"--out {out} is a folder; give a file name such as {out / 'data.h5'}")
    if out.exists() and not force and not is_bench_file(out):
        raise BenchError(f"--out {out} exists and is not a sketchxai-bench data file: refusing to replace it; "
                         "choose another --out (or add --force to replace it)")


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass
class PrepareReport:
    """What :func:`prepare` did: the file, its content checksum, counts and timing."""

    out: Path
    format: str
    checksum: str
    counts: dict[str, Any]
    seconds: float
    kept: int = field(init=False)

    def __post_init__(self) -> None:
        self.kept = sum(self.counts["kept"].values())

    @property
    def sketches_per_second(self) -> float:
        return self.kept / self.seconds if self.seconds > 0 else float("inf")


def prepare(source: str | Path, categories: list[str], out: str | Path, *,
            max_per_category: int | None = None,
            split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
            on_error: str = "fail", force: bool = False) -> PrepareReport:
    """Read each category's file in ``source`` and write ``out`` (atomically, see
    :mod:`benchmark.data.h5store`). Category ``i`` of ``categories`` gets label ``i``.

    ``on_error="fail"`` stops at the first bad drawing (naming file and line) and leaves no
    output; ``"skip"`` skips bad drawings and counts them by reason (in the file's ``counts``
    attribute and on stderr). Degenerate drawings (zero-size bounding box) are always dropped and
    counted, as the reference does; so are exact repeats of a drawing (same key_id and strokes). ``max_per_category`` keeps the first N good drawings of each
    category (npz: N in total, taken from each published split in proportion).

    ``out`` may not lie inside ``source``, and an existing ``out`` is replaced only when it is a
    sketchxai-bench data file (or with ``force``).
    """
    if on_error not in ON_ERROR:
        raise BenchError(f"--on-error {on_error!r}: choose fail or skip")
    if max_per_category is not None and max_per_category < 1:
        raise BenchError(f"--max-per-category must be at least 1, not {max_per_category}")
    start = time.perf_counter()
    source = Path(source)
    check_out(source, Path(out), force)
    fmt, files = locate_sources(source, categories)
    skipped: Counter[str] = Counter()
    examples: list[str] = []
    per_category: dict[str, int] = {}
    degenerate = 0
    seen: dict[str, int] = {}  # key_id -> hash of its points
    duplicates = 0
    with H5Writer(Path(out), categories) as writer, progress_bar() as bar:
        task = bar.add_task("prepare", total=len(categories))
        for label, category in enumerate(categories):
            bar.update(task, description=f"prepare {category}")
            kept = 0
            for item in read_drawings(fmt, files[category], category, max_per_category):
                if isinstance(item, Bad) and item.kind == "degenerate":
                    degenerate += 1
                    continue
                if not isinstance(item, Bad) and item.key_id in seen:
                    if seen[item.key_id] == hash(item.points.tobytes()):  # Google's raw files repeat some lines
                        duplicates += 1
                        continue
                    item = Bad(str(files[category]), "duplicate_key_id",
                               f"key_id {item.key_id} seen before with another drawing")
                if isinstance(item, Bad):
                    if on_error == "fail":
                        raise BenchError(f"{item} (use --on-error skip to skip bad drawings)")
                    skipped[item.kind] += 1
                    if len(examples) < _EXAMPLES:
                        examples.append(str(item))
                    continue
                seen[item.key_id] = hash(item.points.tobytes())
                split = item.split or split_of(item.key_id, split_fractions)
                writer.add(split, normalised_sketch(item.points), item.points[:, :2], label, item.key_id, item.country)
                kept += 1
                if fmt != SKETCHRNN and max_per_category is not None and kept >= max_per_category:
                    break
            per_category[category] = kept
            bar.advance(task)
        counts = {"kept": {s: writer.count(s) for s in ("train", "valid", "test")},
                  "per_category": per_category, "skipped": dict(skipped), "skipped_examples": examples,
                  "dropped_degenerate": degenerate, "dropped_duplicates": duplicates,
                  "empty_categories": [c for c, n in per_category.items() if n == 0]}
        checksum = writer.commit({
            "name": "quickdraw", "synthetic": False, "normalisation": NORMALISATION, "counts": counts,
            "source": {"format": fmt, "folder": str(source.resolve()),
                       "sha256": {p.name: _sha256(p) for p in files.values()}},
            "split": ({"method": "published (sketch-rnn npz)"} if fmt == SKETCHRNN else
                      {"method": "sha256(key_id)", "fractions": list(split_fractions)}),
        })
    _report(counts)
    return PrepareReport(Path(out), fmt, checksum, counts, time.perf_counter() - start)


def _report(counts: dict[str, Any]) -> None:
    lines = []
    if counts["skipped"]:
        total = sum(counts["skipped"].values())
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(counts["skipped"].items()))
        lines.append(f"skipped {total} bad drawing(s) ({reasons}); first: {counts['skipped_examples'][0]}")
    if counts["dropped_degenerate"]:
        lines.append(f"dropped {counts['dropped_degenerate']} degenerate drawing(s) (zero-size bounding box)")
    if counts["dropped_duplicates"]:
        lines.append(f"dropped {counts['dropped_duplicates']} repeated drawing(s) (same key_id and strokes)")
    if counts["empty_categories"]:
        lines.append(f"warning: no drawings for {', '.join(counts['empty_categories'])}")
    for line in lines:
        print(line, file=sys.stderr)

