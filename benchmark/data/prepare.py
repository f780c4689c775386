"""``bench data prepare``: QuickDraw files in a folder -> one HDF5 file with train/valid/test.

The source format is detected from the folder (``.ndjson`` or gzip-compressed ``.ndjson.gz``,
simplified or raw by the presence of timing; ``.npz``; ``.bin``). npz input keeps its published splits; every other format is split by
a hash of ``key_id``, so no drawing lands in two splits and adding categories (or raising
``max_per_category``) never moves a drawing to another split.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.categories import quickdraw_names
from benchmark.data.formats import BINARY, SIMPLIFIED, SKETCHRNN, ndjson_kind
from benchmark.data.h5store import H5Writer, is_bench_file
from benchmark.data.normalise import NORMALISATION
from benchmark.data.prepare_worker import (  # split_of: part of this module's API
    DEFAULT_FRACTIONS, EXAMPLES, CategoryJob, CategoryResult, peak_rss_kb, prepare_category, split_of)
from benchmark.progress import bar as progress_bar
from benchmark.errors import BenchError, Terminated, unknown_name

ON_ERROR = ("fail", "skip")
_SUFFIXES = {".ndjson": None, ".ndjson.gz": None, ".npz": SKETCHRNN, ".bin": BINARY}
_NONE_FOUND = "no .ndjson, .ndjson.gz, .npz or .bin files"


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


def _files(source: Path) -> dict[str, dict[str, Path]]:
    """Per source suffix, ``{category: file}`` of the files in ``source`` (``cat.ndjson.gz`` is ``cat``)."""
    return {suf: {p.name[:-len(suf)]: p for p in source.glob(f"*{suf}") if p.is_file()} for suf in _SUFFIXES}


def locate_sources(source: Path, categories: list[str]) -> tuple[str, dict[str, Path]]:
    """The source format and each category's file in ``source``; clear errors when some are missing."""
    if not source.is_dir():
        raise BenchError(f"--source {source}: no such folder")
    found = _files(source)
    usable = [suf for suf, files in found.items() if any(c in files for c in categories)]
    if len(usable) > 1:
        raise BenchError(f"{source} holds {' and '.join(usable)} files for these categories; "
                         "keep one format per folder")
    if not any(found.values()):
        sub = [str(p.relative_to(source)) for p in source.glob("*/*") if p.is_dir()][:3]
        raise BenchError(f"{source} holds {_NONE_FOUND}"
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


def source_categories(source: Path) -> list[str]:
    """Every category with a file in ``source`` (``--categories all``), sorted by name: the names
    of the files of its one format (a folder mixing formats, or holding none, is an error)."""
    if not source.is_dir():
        raise BenchError(f"--source {source}: no such folder")
    found = {suf: sorted(files) for suf, files in _files(source).items()}
    usable = [suf for suf, names in found.items() if names]
    if len(usable) > 1:
        raise BenchError(f"{source} holds {' and '.join(usable)} files; --categories all needs one format "
                         "per folder (or name the categories)")
    if not usable:
        raise BenchError(f"{source} holds {_NONE_FOUND}: --categories all finds nothing")
    return found[usable[0]]


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
    """What :func:`prepare` did: the file, its content checksum, counts and timing; ``peak_rss_kb``
    is the peak resident memory of this process (``main``) and of each worker (``workers``, one a
    process; empty when the categories were read in this process)."""

    out: Path
    format: str
    checksum: str
    counts: dict[str, Any]
    seconds: float
    peak_rss_kb: dict[str, Any] = field(default_factory=dict)
    kept: int = field(init=False)

    def __post_init__(self) -> None:
        self.kept = sum(self.counts["kept"].values())

    @property
    def sketches_per_second(self) -> float:
        return self.kept / self.seconds if self.seconds > 0 else float("inf")


def _results(jobs: list[CategoryJob], workers: int):
    """Each job's :class:`CategoryResult` as it finishes: in this process (``workers`` 1) or in
    ``workers`` fresh processes, stopped at once when a job raises or the caller stops (an error,
    Ctrl-C, SIGTERM); a worker also stops by itself when this process dies (even by SIGKILL)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(prepare_category, jobs)
        return
    # spawn: a fresh interpreter per worker, whatever the caller holds (torch threads, open files)
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))
    futures = [pool.submit(prepare_category, job) for job in jobs]
    try:
        for future in as_completed(futures):
            yield future.result()
    except BrokenProcessPool:
        raise BenchError("a `bench data prepare` worker process died (out of memory or killed?); run again "
                         "with --workers 1 to read in one process (a script calling prepare() needs its call "
                         "under `if __name__ == '__main__':`, as worker processes import the script)") from None
    finally:
        for future in futures:
            future.cancel()
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            process.terminate()  # a running category is not waited for
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_init(parent: int) -> None:
    """In each worker: Ctrl-C is the parent's (it stops the pool); the worker ends when ``parent``
    does (Linux: the kernel's parent-death signal; elsewhere a thread watching the parent id)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        armed = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@contextmanager
def _sigterm_interrupts():
    """While preparing, SIGTERM raises :class:`~benchmark.errors.Terminated` in the main thread (as
    Ctrl-C raises KeyboardInterrupt), so the workers are stopped and the temporary files removed
    before the process ends; outside the main thread (where no handler can be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def prepare(source: str | Path, categories: list[str], out: str | Path, *,
            max_per_category: int | None = None,
            split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
            on_error: str = "fail", force: bool = False, workers: int | None = None) -> PrepareReport:
    """Read each category's file in ``source`` and write ``out`` (atomically, see
    :mod:`benchmark.data.h5store`). Category ``i`` of ``categories`` gets label ``i``.

    ``on_error="fail"`` stops at the first bad drawing (naming file and line) and leaves no
    output; ``"skip"`` skips bad drawings and counts them by reason (in the file's ``counts``
    attribute and on stderr). Degenerate drawings (zero-size bounding box) are always dropped and
    counted, as the reference does; so are exact repeats of a drawing within a category's file
    (same key_id and strokes; another drawing under a key_id already seen there is a bad drawing).
    ``max_per_category`` keeps the first N good drawings of each category (npz: N in total, taken
    from each published split in proportion).

    Categories are read by ``workers`` processes at once (default: the idle cores,
    :func:`benchmark.threads.auto_threads`), each spilling to temporary files that are streamed
    into ``out`` in category order, so the file does not depend on ``workers``. Memory is bounded
    whatever the input size: per worker a block of lines plus the key ids of the category it
    reads (:mod:`benchmark.data.prepare_worker`), and in this process chunks of
    :mod:`benchmark.data.h5store`'s copy size.

    Stopped (an error, Ctrl-C, SIGTERM, a worker's death), it stops its workers and leaves ``out``
    and the folder as they were; temporary folders that a killed prepare (SIGKILL) left beside
    ``out`` are removed by the next one.

    ``out`` may not lie inside ``source``, and an existing ``out`` is replaced only when it is a
    sketchxai-bench data file (or with ``force``).
    """
    if on_error not in ON_ERROR:
        raise BenchError(f"--on-error {on_error!r}: choose fail or skip")
    if max_per_category is not None and max_per_category < 1:
        raise BenchError(f"--max-per-category must be at least 1, not {max_per_category}")
    if workers is not None and workers < 1:
        raise BenchError(f"--workers must be at least 1, not {workers}")
    start = time.perf_counter()
    source = Path(source)
    check_out(source, Path(out), force)
    fmt, files = locate_sources(source, categories)
    if workers is None:
        from benchmark.threads import auto_threads

        workers = auto_threads()
    results: dict[str, CategoryResult] = {}
    with _sigterm_interrupts(), H5Writer(Path(out), categories) as writer, progress_bar() as bar:
        task = bar.add_task("prepare", total=len(categories))
        jobs = [CategoryJob(fmt, files[c], c, label, max_per_category, split_fractions, on_error,
                            writer.folder, f"category{label}", Path(out)) for label, c in enumerate(categories)]
        for result in _results(jobs, workers):
            results[result.category] = result
            bar.update(task, description=f"prepare {result.category}")
            bar.advance(task)
        ordered = [results[c] for c in categories]
        for result in ordered:
            writer.add_part(result.stem, result.sizes)
        skipped: Counter[str] = sum((r.skipped for r in ordered), Counter())
        counts = {"kept": {s: writer.count(s) for s in ("train", "valid", "test")},
                  "per_category": {r.category: r.kept for r in ordered}, "skipped": dict(skipped),
                  "skipped_examples": [e for r in ordered for e in r.examples][:EXAMPLES],
                  "dropped_degenerate": sum(r.degenerate for r in ordered),
                  "dropped_duplicates": sum(r.duplicates for r in ordered),
                  "empty_categories": [r.category for r in ordered if r.kept == 0]}
        checksum = writer.commit({
            "name": "quickdraw", "synthetic": False, "normalisation": NORMALISATION, "counts": counts,
            "source": {"format": fmt, "folder": str(source.resolve()),
                       "sha256": {p.name: _sha256(p) for p in files.values()}},
            "split": ({"method": "published (sketch-rnn npz)"} if fmt == SKETCHRNN else
                      {"method": "sha256(key_id)", "fractions": list(split_fractions)}),
        })
    _report(counts)
    peaks = sorted({r.peak_rss_kb for r in ordered}) if workers > 1 and len(jobs) > 1 else []
    return PrepareReport(Path(out), fmt, checksum, counts, time.perf_counter() - start,
                         {"main": peak_rss_kb(), "workers_max": max(peaks, default=0),
                          "workers": min(workers, len(jobs)) if peaks else 0})


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

