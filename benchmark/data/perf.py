"""Data-layer throughput: ``bench perf data``.

Prepares the QuickDraw sample (``$BENCH_QUICKDRAW_DIR``, default ``../shared/quickdraw``; the
synthetic demo data when absent, and the output says so) into this project's HDF5 layout, copies
the same sketches into the reference implementation's layout (one HDF5 dataset per sketch) in a
temporary folder, and reads batches of random indices through :func:`benchmark.batch.collate` from
both, side by side. Reported in sketches per second; both files are in the page cache (warm).

Prepare at scale (``--generated N``, default 1,000,000; ``--raw-generated M``, default 40,000):
:func:`generate_set` writes official-format ndjson files of N drawings over the 30 categories
(the sample's real drawings repeated under new key ids) and each size (N/4, N/2, N; one worker and
every core) is prepared in a fresh process, reporting time, rate and peak resident memory of the
main process and of each worker. ``--json`` prints every figure as one JSON object.
``--device cuda``: every read batch is also copied to the GPU (the rate of batches ready there);
preparing is CPU work whatever the device.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.batch import collate
from benchmark.perf import REPO, add_device_option, clock, default_source, device_name


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


def _rate(read_batch, batches: list[np.ndarray], repeats: int, device=None) -> float:
    """Best of ``repeats`` passes over ``batches``, in sketches per second; each batch copied to
    ``device`` when one is given (the clock read after the copies finished)."""
    best = float("inf")
    for _ in range(repeats):
        start = clock(device)
        for idx in batches:
            batch = read_batch(idx)
            if device is not None:
                batch.to(device)
        best = min(best, clock(device) - start)
    return sum(len(b) for b in batches) / best


def _read_rates(ours: Path, per_sketch: Path, batches: int, batch_size: int, repeats: int,
                seed: int, device=None) -> dict[str, Any]:
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
            lambda idx: collate([f[str(i)][()] for i in idx], labels[idx], idx), order, repeats, device)
    out["read_ragged_memmap_per_s"] = _rate(lambda idx: collate(lazy.get(idx), labels[idx], idx), order, repeats,
                                            device)
    out["read_ragged_in_memory_per_s"] = _rate(lambda idx: collate(split.get(idx), labels[idx], idx), order,
                                               repeats, device)
    cached = {int(i): split.sketch(i) for idx in order for i in idx}
    out["collate_only_per_s"] = _rate(
        lambda idx: collate([cached[int(i)] for i in idx], labels[idx], idx), order, repeats, device)
    return out


def measure(source: Path | None = None, batches: int = 50, batch_size: int = 100, repeats: int = 3,
            seed: int = 0, device=None) -> dict[str, Any]:
    """The figures as a dict: prepare rates and random-access read rates (sketches/s; with a CUDA
    ``device`` each read batch copied there)."""
    source = source or default_source()
    on_gpu = device is not None and device.type == "cuda"
    out: dict[str, Any] = {"batch_size": batch_size, "batches": batches, "repeats": repeats,
                           "device": device_name(device) if on_gpu else "cpu"}
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

        out.update(_read_rates(ours, Path(tmp) / "per_sketch.h5", batches, batch_size, repeats, seed,
                               device if on_gpu else None))
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
             f"sketches, through collate{'' if figures.get('device', 'cpu') == 'cpu' else ' and onto ' + figures['device']}"
             f"; {figures['batches']} batches, best of {figures['repeats']}",
             f"{'what':<{width}}  sketches/s", f"{'-' * width}  ----------"]
    lines += [f"{label:<{width}}  {value:>10,.0f}" for label, value in rows]
    lines.append(f"speed-up, memory-mapped ragged vs one dataset per sketch: "
                 f"{figures['speedup_memmap_vs_per_sketch']:.1f}x")
    return "\n".join(lines)


def generate_set(folder: Path, drawings: int, kind: str = "simplified", source: Path | None = None) -> list[str]:
    """Write ``folder/<category>.ndjson`` in the official ``kind`` format (simplified or raw), about
    ``drawings`` drawings over the 30 SketchXAI categories: each category's real sample drawings
    repeated in turn under new, unique key ids (the strokes are human; the repetition is not).
    Returns the categories."""
    import orjson

    from benchmark.data.categories import resolve_categories

    root = (source or default_source())
    if root is None:
        raise SystemExit("the real QuickDraw sample was not found (set BENCH_QUICKDRAW_DIR)")
    src = root / "full" / kind
    categories = [c for c in resolve_categories("30") if (src / f"{c}.ndjson").is_file()]
    per = -(-drawings // len(categories))
    folder.mkdir(parents=True, exist_ok=True)
    for label, category in enumerate(categories):
        objs = [orjson.loads(line) for line in (src / f"{category}.ndjson").read_bytes().splitlines() if line.strip()]
        with open(folder / f"{category}.ndjson", "wb") as fh:
            for first in range(0, per, 10_000):
                lines = []
                for i in range(first, min(per, first + 10_000)):
                    obj = objs[i % len(objs)]
                    obj["key_id"] = str(9 * 10**15 + label * 10**9 + i)
                    lines.append(orjson.dumps(obj))
                fh.write(b"\n".join(lines) + b"\n")
    return categories


_PREPARE_PROBE = """
import json, sys
from pathlib import Path
from benchmark.data.prepare import prepare
source, out, per, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
categories = sorted(p.stem for p in Path(source).glob("*.ndjson"))
r = prepare(source, categories, out, max_per_category=per, workers=workers)
print(json.dumps({"drawings": r.kept, "seconds": r.seconds, "per_s": r.sketches_per_second, **r.peak_rss_kb}))
"""


def _prepare_probe(folder: Path, out: Path, per_category: int, workers: int) -> dict[str, Any]:
    """One prepare in a fresh interpreter (so its peak memory is its own)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PREPARE_PROBE, str(folder), str(out), str(per_category),
                           str(workers)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode:
        raise SystemExit(f"prepare probe failed: {done.stderr.strip().splitlines()[-1:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["workers"] = workers
    row["main_rss_mb"] = row.pop("main") / 1024
    row["worker_rss_mb"] = row.pop("workers_max") / 1024
    row["total_rss_mb"] = row["main_rss_mb"] + row["worker_rss_mb"] * (workers if workers > 1 else 0)
    out.unlink(missing_ok=True)
    return row


def _reader_rates(folder: Path, categories: list[str], kind: str, drawings: int) -> dict[str, float]:
    """Read + check + normalise in this process, drawings/s: the line-by-line reader
    (:func:`benchmark.data.formats.read_ndjson`, as before issue 15) against the block reader, on
    the first ``drawings`` drawings of the generated set."""
    from itertools import islice

    from benchmark.data.blocks import Block, normalise_rows, read_blocks
    from benchmark.data.formats import read_ndjson
    from benchmark.data.normalise import normalised_sketch

    per = max(1, drawings // len(categories))
    rates = {}
    for name in ("line_by_line", "blocks"):
        start, n = time.perf_counter(), 0
        for category in categories:
            path = folder / f"{category}.ndjson"
            if name == "line_by_line":
                for item in islice(read_ndjson(path, category, kind == "raw"), per):
                    normalised_sketch(item.points)
                    n += 1
                continue
            for item in read_blocks(path, category, kind == "raw"):  # whole blocks: a little more than per
                if isinstance(item, Block):
                    normalise_rows(item.points[:, :2], item.lengths[item.lengths > 0])
                    n += len(item)
                if n >= per * (categories.index(category) + 1):
                    break
        rates[f"{name}_per_s"] = n / (time.perf_counter() - start)
    rates["speedup"] = rates["blocks_per_s"] / rates["line_by_line_per_s"]
    return rates


def measure_scale(drawings: int = 1_000_000, raw_drawings: int = 40_000, workers: int | None = None,
                  source: Path | None = None) -> dict[str, Any]:
    """Prepare time, rate and peak memory against input size on generated official-format sets
    (see the module docstring); ``workers`` default: every core."""
    workers = workers or os.cpu_count() or 1
    out: dict[str, Any] = {"cores": os.cpu_count(), "rows": []}
    with tempfile.TemporaryDirectory(prefix="perf_scale_") as tmp:
        for kind, total in (("simplified", drawings), ("raw", raw_drawings)):
            if not total:
                continue
            folder = Path(tmp) / kind
            start = time.perf_counter()
            categories = generate_set(folder, total, kind, source)
            out[f"generate_{kind}_s"] = time.perf_counter() - start
            out[f"read_{kind}"] = _reader_rates(folder, categories, kind, total // 8)
            per = -(-total // len(categories))
            plan = [(per // 4, 1), (per // 4, workers), (per // 2, workers), (per, workers)]
            for per_category, w in dict.fromkeys(plan):
                row = _prepare_probe(folder, Path(tmp) / "out.h5", max(1, per_category), w)
                out["rows"].append({"format": kind, **row})
            shutil.rmtree(folder)
    return out


def format_scale(figures: dict[str, Any]) -> str:
    lines = [f"prepare at scale: generated official-format files (real sample drawings repeated under new "
             f"key ids), 30 categories, {figures['cores']} cores; peak RSS (VmHWM), a fresh process each",
             f"{'format':<11} {'drawings':>10} {'workers':>7} {'seconds':>8} {'drawings/s':>11} "
             f"{'main MB':>8} {'worker MB':>9} {'total MB':>9}"]
    for r in figures["rows"]:
        lines.append(f"{r['format']:<11} {r['drawings']:>10,} {r['workers']:>7} {r['seconds']:>8.1f} {r['per_s']:>11,.0f} "
                     f"{r['main_rss_mb']:>8.0f} {r['worker_rss_mb']:>9.0f} {r['total_rss_mb']:>9.0f}")
    for kind in ("simplified", "raw"):
        if f"read_{kind}" in figures:
            r = figures[f"read_{kind}"]
            lines.append(f"{kind}: read + check + normalise in one process: line by line (before) "
                         f"{r['line_by_line_per_s']:,.0f}/s, blocks {r['blocks_per_s']:,.0f}/s ({r['speedup']:.1f}x)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf data", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="QuickDraw sample root (with full/simplified)")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--generated", type=int, default=1_000_000, metavar="N",
                        help="drawings of the generated simplified set (0: skip the scale figures)")
    parser.add_argument("--raw-generated", type=int, default=40_000, metavar="M",
                        help="drawings of the generated raw set (0: skip)")
    parser.add_argument("--workers", type=int, help="prepare workers at scale (default: every core)")
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    figures = measure(args.source, args.batches, args.batch_size, device=args.device)
    source = args.source or default_source()
    if source is not None and (args.generated or args.raw_generated):
        figures["scale"] = measure_scale(args.generated, args.raw_generated, args.workers, source)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(format_table(figures))
    if "scale" in figures:
        print()
        print(format_scale(figures["scale"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
