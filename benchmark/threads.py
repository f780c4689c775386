"""How many torch threads a process uses when ``--threads`` is not given.

torch's OpenMP threads spin while they wait for each other; when the machine's cores are also
busy with another process, a spinning thread holds a core the others need and an epoch can take
tens of times longer (measured 40x on 2 shared cores). So the default is the number of cores that
are *idle now* (sampled from ``/proc/stat`` over a short interval), divided among the local
processes, at least 1 and at most ``os.cpu_count()``: alone a run uses every core; beside a busy
process it leaves that process its core and slows down about 2x instead of 40x.

``--threads N``, ``BENCH_THREADS=N`` or ``OMP_NUM_THREADS=N`` fixes the number (in that order);
``BENCH_THREADS=all`` takes every core (the old behaviour).
"""

from __future__ import annotations

import os
import time

SAMPLE_S = 0.25


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return idle, sum(fields[:8])


def idle_cores(sample_s: float = SAMPLE_S) -> float | None:
    """Cores idle over the next ``sample_s`` seconds (None where ``/proc/stat`` is unavailable)."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(sample_s)
    second = _cpu_times()
    total = second[1] - first[1]
    if total <= 0:
        return None
    return (os.cpu_count() or 1) * (second[0] - first[0]) / total


def auto_threads(nproc: int | None = None) -> int:
    """Threads per process for ``nproc`` local processes (default: torchrun's ``LOCAL_WORLD_SIZE``
    or 1): idle cores (or every core) / ``nproc``."""
    if nproc is None:
        nproc = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    cores = os.cpu_count() or 1
    fixed = os.environ.get("BENCH_THREADS", "").strip() or os.environ.get("OMP_NUM_THREADS", "").strip()
    if fixed.isdigit() and int(fixed) > 0:
        return int(fixed)
    if fixed == "all":
        return max(1, cores // nproc)
    idle = idle_cores()
    usable = cores if idle is None else min(cores, max(1, int(idle + 0.5)))
    return max(1, usable // max(1, nproc))
