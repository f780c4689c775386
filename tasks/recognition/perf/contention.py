"""``bench perf contention``: what sharing the CPU with another busy process costs a training run.

Each figure is a short stroke_vit_tiny training loop (real model, synthetic sketches, fixed seed)
in a fresh process, timed per step, once alone and once beside a CPU-bound process (one busy
Python loop), with torch's old default thread count (every core) and with sketchxai-bench's
default (:func:`benchmark.threads.auto_threads`: the idle cores). OpenMP threads spin while they
wait, so oversubscribed cores thrash; the slowdown column is contended / alone. ``--device cuda``:
the model on the GPU (the host threads still launch its kernels and collate; steps timed after
the GPU finished).

``python -m tasks.recognition.perf.contention [--steps N] [--max-s S]`` (each run stops at ``--max-s``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmark.perf import add_device_option, device_name

BUSY = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def _worker(threads: str, steps: int, max_s: float, device: str) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from benchmark.batch import collate
    from benchmark.optim import adamw
    from benchmark.perf import clock
    from benchmark.plugins import get_manager
    from benchmark.threads import auto_threads

    n_threads = auto_threads() if threads == "auto" else int(threads)
    torch.set_num_threads(n_threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    sketches = []
    for _ in range(64):
        strokes = [np.column_stack([rng.uniform(-0.7, 0.7, (12, 2)), np.eye(12)[-1]]) for _ in range(10)]
        sketches.append(np.concatenate(strokes).astype(np.float32))
    on = torch.device(device)
    batch = collate(sketches, rng.integers(0, 12, 64), np.arange(64)).to(on)
    model = get_manager().encoder("stroke_vit_tiny").build(12, {}).to(on)
    opt = adamw(model.parameters(), lr=1e-4, weight_decay=1e-2)
    times = []
    started = time.perf_counter()
    for _ in range(steps + 1):
        t0 = clock(on)
        loss = F.cross_entropy(model(batch), batch.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(clock(on) - t0)
        if time.perf_counter() - started > max_s:
            break
    times = times[1:] or times  # the first step warms up
    return {"threads": n_threads, "steps": len(times), "s_per_step": float(np.median(times))}


def _measure(threads: str, steps: int, max_s: float, busy: bool, device: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "BENCH_THREADS")}
    hog = None
    if busy:
        hog = subprocess.Popen([sys.executable, "-c", BUSY.format(s=max_s + 60)])
        time.sleep(0.5)  # running before the worker samples idle cores
    try:
        out = subprocess.run([sys.executable, "-m", "tasks.recognition.perf.contention", "--worker", threads,
                              "--steps", str(steps), "--max-s", str(max_s), "--device", device],
                             capture_output=True, text=True, env=env, timeout=max_s + 120)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if out.returncode != 0:
        raise SystemExit(f"perf contention worker failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench perf contention", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="training steps a measurement (default 8)")
    parser.add_argument("--max-s", type=float, default=12.0, help="stop a measurement after S seconds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    add_device_option(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.steps, args.max_s, str(args.device))))
        return 0
    cores = os.cpu_count() or 1
    rows = []
    for label, threads in ((f"all cores ({cores}, torch default, before)", str(cores)),
                           ("auto: idle cores (sketchxai-bench default, after)", "auto")):
        alone = _measure(threads, args.steps, args.max_s, busy=False, device=str(args.device))
        shared = _measure(threads, args.steps, args.max_s, busy=True, device=str(args.device))
        rows.append({"setting": label, "alone": alone, "contended": shared,
                     "slowdown": shared["s_per_step"] / alone["s_per_step"]})
    if args.json:
        print(json.dumps({"device": device_name(args.device), "rows": rows}, indent=2))
        return 0
    print(f"stroke_vit_tiny training step (batch 64), {device_name(args.device)}, {cores} cores; contended = beside "
          f"one busy process")
    print(f"{'threads':<52} {'alone s/step':>14} {'contended s/step':>18} {'slowdown':>9}")
    for r in rows:
        a, c = r["alone"], r["contended"]
        print(f"{r['setting']:<52} {a['s_per_step']:>9.3f} ({a['threads']}t) {c['s_per_step']:>12.3f} ({c['threads']}t)"
              f" {r['slowdown']:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
