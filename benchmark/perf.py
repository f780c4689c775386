"""``bench perf``: throughput figures, each measured side by side with its baseline in one run, and
the measuring pieces every target shares (the machine's matmul rate, FLOP counting, timing, the
real sketches measured on, one way to print figures).

Timed figures live in the targets, never in tests. Targets are registered by plugins (hook
``bench_register_perf_targets``); each is a module with ``main(argv) -> int`` that prints a table,
or with ``--json`` in ``argv`` its figures as one JSON value. ``bench perf --json`` runs the targets
that way and prints one JSON object, target name -> figures. A target that stops is named on
stderr, the others still run, and the exit status is the worst one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: The repository (the QuickDraw sample is looked for beside it, in ``../shared/quickdraw``).
REPO = Path(__file__).resolve().parent.parent


#: ``bench perf --help``'s examples (tests/test_examples.py runs ``list``; the targets take minutes).
EXAMPLES = """examples:
  bench perf list                           the targets and what each measures
  bench perf sli -- --threads 1             one target, its own options after --
  bench perf --device cuda                  every target with its models on the GPU
  bench perf --json                         every target, one JSON object
  bench perf --record results/perf/cpu-2core.json
                                            every target, the figures kept with the machine and commit
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("perf", help="measure throughput (side by side with its baseline)",
                                   description="targets: `bench perf list` names them",
                                   formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    parser.add_argument("target", nargs="?", default="all", help="a target name, 'all' (default) or 'list'")
    parser.add_argument("args", nargs="*", help="options passed to the target (after --)")
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object")
    parser.add_argument("--device", type=perf_device, default=None,
                        help="cpu or cuda[:N]: passed to every target (each also takes it after --)")
    parser.add_argument("--record", metavar="FILE",
                        help="also write the figures to FILE (JSON) with the command, date, machine, commit, "
                             "torch, wall seconds and peak memory; implies --json")
    parser.set_defaults(func=run)


def run(args) -> int:
    from benchmark.errors import unknown_name
    from benchmark.plugins import get_manager

    targets = get_manager().perf_targets()
    if args.target == "list":
        for name, (_, description) in targets.items():
            print(f"{name}: {description}")
        return 0
    if args.target != "all" and args.target not in targets:
        raise unknown_name("perf target", args.target, [*targets, "all", "list"])
    names = list(targets) if args.target == "all" else [args.target]
    if args.device is not None:
        args.args = [*args.args, "--device", str(args.device)]
    started = time.perf_counter()
    args.json = args.json or bool(args.record)
    status = 0
    figures = {}
    for name in names:
        main = importlib.import_module(targets[name][0]).main
        if args.json:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = _run_target(name, main, [*args.args, "--json"])
            status = max(status, code)
            if code == 0:
                figures[name] = json.loads(printed.getvalue())
            continue
        if len(names) > 1:
            print(f"\n== {name}: {targets[name][1]}", flush=True)
        sys.stdout.flush()
        status = max(status, _run_target(name, main, args.args))
    if args.json:
        print(json.dumps(figures, indent=2, default=float))
    if args.record:
        _record(Path(args.record), figures, time.perf_counter() - started)
    return status


def _record(path: Path, figures: dict[str, Any], wall_s: float) -> None:
    """``bench perf --record``: the figures with what says where they were measured (atomically)."""
    import datetime
    import platform
    import resource
    import subprocess

    import torch

    from benchmark.records import atomic_write_text

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    machine = (f"{os.cpu_count()}-core {platform.machine()} ({_cpu_model()}), "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
               f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    atomic_write_text(path, json.dumps({
        "command": "bench perf " + " ".join(sys.argv[sys.argv.index("perf") + 1:] if "perf" in sys.argv else []),
        "date": datetime.date.today().isoformat(), "machine": machine, "commit": commit,
        "torch": torch.__version__, "wall_s": round(wall_s, 1), "peak_rss_mb": round(rss / 1024),
        "figures": figures}, indent=2, default=float) + "\n")
    print(f"bench perf: figures written to {path}", file=sys.stderr)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def _run_target(name: str, main, argv: list[str]) -> int:
    """A target's exit status; one that stops (a bad option, missing data) is named on stderr and
    the other targets still run (with ``--json``, the figures printed are those of the others)."""
    try:
        return int(main(argv) or 0)
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
        if code:
            detail = f": {exc.code}" if isinstance(exc.code, str) else ""
            print(f"bench perf: target {name!r} stopped (exit {code}){detail}; the other targets ran",
                  file=sys.stderr)
        return code


# -- the shared measuring pieces ---------------------------------------------------------------

def perf_device(name: str):
    """``--device NAME`` of a target (an ``argparse`` type): ``cpu`` or ``cuda[:N]`` as a
    ``torch.device``; a device torch cannot use here is a one-line usage error saying why."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise argparse.ArgumentTypeError(f"{name!r} is no torch device: give cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise argparse.ArgumentTypeError(f"{name}: torch {torch.__version__} ({build}) sees no CUDA device on "
                                             f"this machine; leave --device out to measure on the CPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{name}: this machine has {torch.cuda.device_count()} CUDA devices "
                                             f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    elif device.type != "cpu":
        raise argparse.ArgumentTypeError(f"{name}: the targets measure on cpu or cuda only")
    return device


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """A target's ``--device`` (default ``cpu``): where its models and batches run."""
    parser.add_argument("--device", type=perf_device, default="cpu",
                        help="cpu (default) or cuda[:N]: where the models and batches run (clocks are read "
                             "after the device finished its queued work)")


def device_name(device) -> str:
    """What the figures were measured on: ``cpu`` or the CUDA card's name."""
    import torch

    return "cpu" if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})"


def clock(device=None) -> float:
    """``time.perf_counter()`` once ``device`` has finished the work queued on it (CUDA kernels
    run asynchronously: a clock read without this times the launches, not the work)."""
    if device is not None and device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter()


def matmul_gflops(threads: int, size: int | None = None, repeats: int = 10, device=None) -> float:
    """Measured float32 matmul rate (GFLOP/s) of this machine's CPU with ``threads`` torch threads
    (a 1024-square product) or of ``device`` (a CUDA device: 8192-square)."""
    import torch

    torch.set_num_threads(threads)
    on_gpu = device is not None and device.type == "cuda"
    size = size or (8192 if on_gpu else 1024)
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    started = clock(device)
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (clock(device) - started) / 1e9


def counted_flops(work: Callable[[], Any]) -> int:
    """The floating-point operations torch's FLOP counter sees while ``work()`` runs (matmuls,
    convolutions and attention; element-wise operations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        work()
    return counter.get_total_flops()


def timed(work: Callable[[], Any], device=None) -> tuple[Any, float, float]:
    """``(work(), wall seconds, CPU seconds of this process)``; with a CUDA ``device`` the wall
    clock includes the work queued on it (:func:`clock`)."""
    wall, cpu = clock(device), time.process_time()
    out = work()
    return out, clock(device) - wall, time.process_time() - cpu


def emit(figures: Any, as_json: bool, table: Callable[[Any], str]) -> None:
    """Print a target's figures: one JSON value with ``--json`` (numpy numbers as floats), else
    ``table(figures)``."""
    print(json.dumps(figures, indent=2, default=float) if as_json else table(figures))


def default_source() -> Path | None:
    """The QuickDraw sample folder, if present."""
    root = Path(os.environ.get("BENCH_QUICKDRAW_DIR") or REPO.parent / "shared" / "quickdraw")
    return root if (root / "full" / "simplified").is_dir() else None


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


def top_operators(work: Callable[[], Any], rows: int = 15, device=None) -> list[dict[str, Any]]:
    """The ``rows`` operators with the most self time while ``work()`` runs (torch.profiler): CPU
    time, or with a CUDA ``device`` the time of their kernels on it. ``[{"name", "self_ms",
    "calls", "share", "clock"}]``, ``share`` of the profiled self time, ``clock`` ``cpu`` or ``cuda``."""
    from torch.profiler import ProfilerActivity, profile

    on_gpu = device is not None and device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if on_gpu else [])]) as prof:
        work()
        clock(device)

    def self_us(event) -> float:
        return event.self_device_time_total if on_gpu else event.self_cpu_time_total

    events = [e for e in prof.key_averages() if self_us(e) > 0]
    total = sum(self_us(e) for e in events) or 1.0
    events.sort(key=lambda e: -self_us(e))
    return [{"name": e.key, "self_ms": self_us(e) / 1e3, "calls": e.count, "share": self_us(e) / total,
             "clock": "cuda" if on_gpu else "cpu"} for e in events[:rows]]


def operators_table(title: str, ops: list[dict[str, Any]]) -> str:
    """:func:`top_operators` as printed lines."""
    where = "CUDA" if ops and ops[0].get("clock") == "cuda" else "CPU"
    lines = [f"{title}: top operators by self {where} time", f"  {'share':>6} {'self ms':>9} {'calls':>7}  operator"]
    lines += [f"  {o['share']:>6.1%} {o['self_ms']:>9.1f} {o['calls']:>7}  {o['name']}" for o in ops]
    return "\n".join(lines)


class Compiled:
    """``module`` run through ``torch.compile(dynamic=True)`` (inductor) where torch can compile
    here, else as it is: :attr:`how` says which, and why not when it could not (no C++ compiler,
    no inductor, a failure at the first call: the call is then run eagerly). The first calls of a
    compiled module take minutes on CPU (they compile), so time it after a warm-up."""

    def __init__(self, module):
        import shutil

        import torch

        self.module, self.how, self._compiled = module, "eager", None
        if not any(shutil.which(cc) for cc in ("cc", "gcc", "clang", "g++")):
            self.how = "eager (torch.compile needs a C++ compiler on CPU: none found)"
            return
        try:
            self._compiled = torch.compile(module, dynamic=True)
            self.how = "torch.compile (inductor, dynamic shapes)"
        except Exception as exc:  # an unsupported platform or Python
            self.how = f"eager (torch.compile unavailable: {type(exc).__name__}: {exc})"

    def __call__(self, *args):
        if self._compiled is None:
            return self.module(*args)
        try:
            return self._compiled(*args)
        except Exception as exc:  # compiling failed at its first call: eager from now on
            self._compiled = None
            self.how = f"eager (torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            print(f"bench perf: {self.how}", file=sys.stderr)
            return self.module(*args)
