"""Running planned specs on one process or many.

:func:`run` is what ``bench run`` calls. With ``nproc > 1`` it starts that many local worker
processes (``torch.multiprocessing``, gloo on CPU, NCCL on CUDA); under ``torchrun`` it joins the
group described by the environment. Every rank executes the same :class:`RunSpec` list; only rank
0 writes records and artifacts. A worker that fails stops the others and is reported by rank.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import torch

from benchmark import distributed, guards, threads as threads_mod
from benchmark.data.sketches import SketchData
from benchmark.errors import BenchError
from benchmark.plugins import configure
from benchmark.run.execute import execute
from benchmark.run.plan import RunSpec


def run(specs: list[RunSpec], nproc: int = 1, plugin_files: tuple[str, ...] = (), device: str | None = None,
        threads: int | None = None) -> list[dict[str, Any]]:
    """Execute ``specs`` on ``nproc`` local processes (or the torchrun group); returns the records
    written by rank 0 (an empty list on other torchrun ranks)."""
    if distributed.launched_by_torchrun():
        info = distributed.init(device=device)
        # every rank planned, but run ids are random: rank 0's plan is the one all ranks follow
        return guards.guard_peers(lambda: _execute_all(distributed.broadcast_object(info, specs), info, plugin_files,
                                                       threads))
    if nproc <= 1:
        return _execute_all(specs, distributed.DistInfo(device=device or _default_device()), plugin_files, threads)
    return _spawn(specs, nproc, plugin_files, device, threads)


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _spawn(specs, nproc, plugin_files, device, threads) -> list[dict[str, Any]]:
    import tempfile

    import torch.multiprocessing as mp

    port = _free_port()
    out_dir = Path(tempfile.mkdtemp(prefix="bench-spawn-"))
    try:
        mp.start_processes(_worker, args=(specs, nproc, port, plugin_files, device, threads, str(out_dir)),
                           nprocs=nproc, start_method="spawn", join=True)
    except mp.ProcessRaisedException as exc:
        rank, error = _first_failure(out_dir) or (exc.error_index, _last_line(str(exc)))
        guards.mark_failed_specs(specs, error)
        raise BenchError(f"worker rank {rank} failed: {error}; the other workers were stopped and no record "
                         f"was written for the failed run") from None
    except mp.ProcessExitedException as exc:
        raise BenchError(f"worker rank {exc.error_index} died (exit code {exc.exit_code}"
                         f"{', signal ' + exc.signal_name if exc.signal_name else ''}); the other workers were "
                         f"stopped and no record was written for the failed run") from None
    finally:
        records_file = out_dir / "records.json"
        records = json.loads(records_file.read_text()) if records_file.exists() else []
        shutil.rmtree(out_dir, ignore_errors=True)
    return records


def _first_failure(out_dir: Path) -> tuple[int, str] | None:
    """``(rank, error)`` of the worker that failed first: the others usually fail after it, with
    a communication error that says nothing about the cause."""
    failures = []
    for path in out_dir.glob("error-rank*.json"):
        try:
            failures.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    if not failures:
        return None
    first = min(failures, key=lambda f: f["time"])
    return first["rank"], first["error"]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, specs, nproc, port, plugin_files, device, threads, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank))
    configure(plugin_files)
    if threads is None and (device or _default_device()) == "cpu":
        threads = threads_mod.auto_threads(nproc)
    try:
        info = distributed.init(rank, nproc, device)
        records = _execute_all(specs, info, plugin_files, threads)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        Path(out_dir, f"error-rank{rank}.json").write_text(json.dumps({"rank": rank, "time": time.time(),
                                                                         "error": error}))
        raise
    finally:
        distributed.shutdown()
    if rank == 0:
        Path(out_dir, "records.json").write_text(json.dumps(records))


def _execute_all(specs, info, plugin_files, threads) -> list[dict[str, Any]]:
    torch.set_num_threads(int(threads or threads_mod.auto_threads()))
    records = []
    opened: dict[str, SketchData] = {}
    for spec in specs:
        record = execute(spec, info, opened)
        if record is not None:
            records.append(record)
    return records
