"""Running ``location_reliance`` (torch; see :mod:`tasks.reliance` for what it measures).

Every rank classifies its exact share of a seeded sample of the split; moved layouts are drawn per
sketch from generators seeded by ``(seed, index, draw)`` (:func:`tasks.sampling.start_locations`),
so results do not depend on batching or on the number of processes.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmark.contracts import TaskResult
from benchmark.guards import check_logits
from benchmark.metrics import finite_rows
from benchmark.progress import bar
from benchmark.report.significance import PERMUTATIONS, permutation
from tasks.sampling import select_sketches, start_locations

#: moved layouts: (name, start_locations mode)
MOVES = (("scrambled", "randn"), ("shuffled", "shuffle"))


@torch.no_grad()
def classify_moved(model, batch, draws: int, init_scale: float, seed: int, ctx=None) -> dict[str, np.ndarray]:
    """Per sketch of ``batch``: correctness and true-class probability at the true layout and,
    averaged over ``draws``, with scrambled and with shuffled start points (``ctx``, a run's
    context, names the encoder when its logits have the wrong shape). The model is prepared on the
    true sketch and evaluated at moved start points (:meth:`~benchmark.model.EncoderModule.forward_sli`;
    by default ``forward`` on the batch with the moved locations), as SLI does."""
    labels = batch.labels
    rows = torch.arange(batch.size, device=labels.device)
    prepared = model.prepare_sli(batch)  # what does not depend on locations, computed once

    def outcome(locations):
        logits = model.forward_sli(prepared, locations)
        if ctx is not None:
            check_logits(ctx, logits, batch, model.num_classes)
        probs = logits.double().softmax(-1)
        return (logits.argmax(-1) == labels).double(), probs[rows, labels]

    correct, p_true = outcome(batch.locations)
    out = {"correct_true": correct.cpu().numpy(), "p_true_true": p_true.cpu().numpy()}
    for name, mode in MOVES:
        hits, probs = torch.zeros_like(correct), torch.zeros_like(p_true)
        for draw in range(draws):
            c, p = outcome(start_locations(batch, mode, init_scale, seed, draw))
            hits += c
            probs += p
        out[f"correct_{name}"] = (hits / draws).cpu().numpy()
        out[f"p_true_{name}"] = (probs / draws).cpu().numpy()
    return out


def run_reliance(ctx) -> TaskResult:
    cfg = ctx.task_config
    model = ctx.load_encoder(ctx.checkpoint).eval()
    split = ctx.data.split(cfg["split"])
    indices = select_sketches(np.arange(len(split)), cfg["max_sketches"], ctx.seed)
    parts: dict[str, list[np.ndarray]] = {}
    index_parts = []
    started = time.perf_counter()
    with bar(ctx.dist.rank) as progress:
        job = progress.add_task(f"location reliance ({cfg['split']})", total=len(indices))
        for batch in ctx.eval_batches(cfg["split"], cfg["batch_size"], indices=indices):
            for key, values in classify_moved(model, batch, cfg["draws"], cfg["init_scale"], ctx.seed, ctx).items():
                parts.setdefault(key, []).append(values)
            index_parts.append(batch.index.cpu().numpy())
            progress.advance(job, batch.size * ctx.dist.world_size)
    local = {k: np.concatenate(v) for k, v in parts.items()}
    gathered = ctx.gather(np.concatenate(index_parts) if index_parts else np.zeros(0, np.int64), local)
    elapsed = time.perf_counter() - started
    if not ctx.dist.is_main:
        return TaskResult(metrics={})
    rows = per_sketch_rows(gathered, split.labels)
    ctx.write_per_sketch(cfg["split"], rows)
    return TaskResult(metrics={}, extra={"sketches": len(rows), "draws": cfg["draws"], "tests": within_run_tests(rows),
                                         "timings": {"reliance_s": round(elapsed, 3)}})


def per_sketch_rows(g: dict[str, np.ndarray], labels) -> list[dict]:
    out = []
    for i, idx in enumerate(g["index"]):
        row = {"index": int(idx), "label": int(labels[int(idx)]), "correct_true": bool(g["correct_true"][i]),
               "p_true_true": float(g["p_true_true"][i])}
        for name, _ in MOVES:
            row[f"correct_{name}"] = float(g[f"correct_{name}"][i])
            row[f"p_true_{name}"] = float(g[f"p_true_{name}"][i])
            row[f"accuracy_drop_{name}"] = float(g["correct_true"][i]) - float(g[f"correct_{name}"][i])
            row[f"p_true_drop_{name}"] = float(g["p_true_true"][i]) - float(g[f"p_true_{name}"][i])
        out.append(row)
    return out


def within_run_tests(rows: list[dict]) -> dict[str, dict]:
    """True layout vs each moved layout on the same sketches: the paired permutation test of the
    difference of mean accuracy and of mean true-class probability (seeded)."""
    tests = {}
    for name, _ in MOVES:
        for quantity, true_key, moved in (("accuracy", "correct_true", "correct"), ("p_true", "p_true_true", "p_true")):
            a = np.array([float(r[true_key]) for r in rows])
            b = np.array([float(r[f"{moved}_{name}"]) for r in rows])
            keep = finite_rows([a, b])
            result = permutation("mean", [a[keep]], [b[keep]])
            tests[f"{quantity}_true_vs_{name}"] = {"test": f"paired permutation test, {PERMUTATIONS} swaps",
                                                   "n": int(keep.sum()), **result}
    return tests
