"""Data-layer throughput: ``bench perf data``.

Prepares the QuickDraw sample (``$BENCH_QUICKDRAW_DIR``, default ``../shared/quickdraw``; the
synthetic demo data when absent, and the output says so) into this project's HDF5 layout, copies
the same sketches into the reference implementation's layout (one HDF5 dataset per sketch) in a
temporary folder, and reads batches of random indices through :func:`benchmark.batch.collate` from
both, side by side. Reported in sketches per second; both files are in the page cache (warm).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.batch import collate

REPO = Path(__file__).resolve().parent.parent


def default_source() -> Path | None:
    """The QuickDraw sample folder, if present."""
    root = Path(os.environ.get("BENCH_QUICKDRAW_DIR") or REPO.parent / "shared" / "quickdraw")
    return root if (root / "full" / "simplified").is_dir() else None


def _prepare_rate(folder: Path, out: Path) -> tuple[float, int]:
    from benchmark.data.prepare import prepare

    categories = sorted(p.stem for p in folder.glob("*.ndjson") if p.stat().st_size)
    report = prepare(folder, categories, out)
    return report.sketches_per_second, report.kept


def _write_per_sketch(path: Path, split) -> None:
    """The reference's layout: ``/<index>`` one float32 ``(n, 3)`` dataset per sketch."""
    import h5py

    with h5py.File(path, "w") as f:
        for i in range(len(split)):
            f.create_dataset(str(i), data=split.sketch(i))


def _rate(read_batch, batches: list[np.ndarray], repeats: int) -> float:
    """Best of ``repeats`` passes over ``batches``, in sketches per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for idx in batches:
            read_batch(idx)
        best = min(best, time.perf_counter() - start)
    return sum(len(b) for b in batches) / best


def _read_rates(ours: Path, per_sketch: Path, batches: int, batch_size: int, repeats: int,
                seed: int) -> dict[str, Any]:
    import h5py

    from benchmark.data.h5store import open_h5

    split, lazy = open_h5(ours).splits["train"], open_h5(ours, lazy=True).splits["train"]
    labels = split.labels
    _write_per_sketch(per_sketch, split)
    rng = np.random.default_rng(seed)
    order = [rng.choice(len(split), batch_size, replace=False) for _ in range(batches)]
    out: dict[str, Any] = {"split_sketches": len(split)}
    with h5py.File(per_sketch, "r") as f:
        out["read_per_sketch_datasets_per_s"] = _rate(
            lambda idx: collate([f[str(i)][()] for i in idx], labels[idx], idx), order, repeats)
    out["read_ragged_memmap_per_s"] = _rate(lambda idx: collate(lazy.get(idx), labels[idx], idx), order, repeats)
    out["read_ragged_in_memory_per_s"] = _rate(lambda idx: collate(split.get(idx), labels[idx], idx), order, repeats)
    cached = {int(i): split.sketch(i) for idx in order for i in idx}
    out["collate_only_per_s"] = _rate(
        lambda idx: collate([cached[int(i)] for i in idx], labels[idx], idx), order, repeats)
    return out


def measure(source: Path | None = None, batches: int = 50, batch_size: int = 100, repeats: int = 3,
            seed: int = 0) -> dict[str, Any]:
    """The figures as a dict: prepare rates and random-access read rates (sketches/s)."""
    source = source or default_source()
    out: dict[str, Any] = {"batch_size": batch_size, "batches": batches, "repeats": repeats}
    with tempfile.TemporaryDirectory(prefix="perf_data_") as tmp:
        ours = Path(tmp) / "ours.h5"
        if source is not None:
            out["source"], out["synthetic"] = str(source), False
            rate, kept = _prepare_rate(source / "full" / "simplified", ours)
            out["prepare_simplified_per_s"], out["prepared_sketches"] = rate, kept
            if (source / "full" / "raw").is_dir():
                rate, kept = _prepare_rate(source / "full" / "raw", Path(tmp) / "raw.h5")
                out["prepare_raw_per_s"], out["prepared_raw_sketches"] = rate, kept
        else:
            from benchmark.data.demo import CLASSES, DEFAULT_SIZES, generate

            out["source"], out["synthetic"] = "demo generator (synthetic doodles)", True
            start = time.perf_counter()
            generate(ours, seed, DEFAULT_SIZES)
            out["generate_demo_per_s"] = len(CLASSES) * sum(DEFAULT_SIZES.values()) / (time.perf_counter() - start)

        out.update(_read_rates(ours, Path(tmp) / "per_sketch.h5", batches, batch_size, repeats, seed))
    out["speedup_memmap_vs_per_sketch"] = out["read_ragged_memmap_per_s"] / out["read_per_sketch_datasets_per_s"]
    return out


def format_table(figures: dict[str, Any]) -> str:
    rows = [("read: one dataset per sketch (reference layout)", figures["read_per_sketch_datasets_per_s"]),
            ("read: ragged points, memory-mapped (lazy)", figures["read_ragged_memmap_per_s"]),
            ("read: ragged points, in memory", figures["read_ragged_in_memory_per_s"]),
            ("collate alone (sketches already in memory)", figures["collate_only_per_s"])]
    for key, label in (("prepare_simplified_per_s", "prepare: simplified ndjson -> h5"),
                       ("prepare_raw_per_s", "prepare: raw ndjson -> h5 (simplify + RDP)"),
                       ("generate_demo_per_s", "generate demo -> h5")):
        if key in figures:
            rows.append((label, figures[key]))
    width = max(len(r[0]) for r in rows)
    lines = [f"source: {figures['source']}" + (" (synthetic)" if figures["synthetic"] else ""),
             f"random batches of {figures['batch_size']} indices from a split of {figures['split_sketches']} "
             f"sketches, through collate; {figures['batches']} batches, best of {figures['repeats']}",
             f"{'what':<{width}}  sketches/s", f"{'-' * width}  ----------"]
    lines += [f"{label:<{width}}  {value:>10,.0f}" for label, value in rows]
    lines.append(f"speed-up, memory-mapped ragged vs one dataset per sketch: "
                 f"{figures['speedup_memmap_vs_per_sketch']:.1f}x")
    return "\n".join(lines)


def real_sketches(source: Path | None = None) -> tuple[list[np.ndarray], np.ndarray, str]:
    """Every sketch of the 30 categories of the real sample (all splits), normalised like the reference."""
    from benchmark.data.categories import resolve_categories
    from benchmark.data.h5store import open_h5
    from benchmark.data.prepare import prepare

    source = source or default_source()
    if source is None:
        raise SystemExit("the real QuickDraw sample was not found (set BENCH_QUICKDRAW_DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "qd30.h5"
        prepare(source / "full" / "simplified", resolve_categories("30"), out)
        data = open_h5(out)
    sketches, labels = [], []
    for split in data.splits.values():
        sketches += split.get(range(len(split)))
        labels.append(split.labels)
    return [np.array(s) for s in sketches], np.concatenate(labels), str(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf data", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="QuickDraw sample root (with full/simplified)")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    print(format_table(measure(args.source, args.batches, args.batch_size)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
