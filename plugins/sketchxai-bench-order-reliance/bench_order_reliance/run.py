"""The torch side of ``order_reliance``: classify, shuffle the order, classify again, write rows."""

import numpy as np
import torch

from benchmark import TaskResult


def shuffled_order(batch, seed: int) -> torch.Tensor:
    """``batch.order`` with each sketch's indices permuted among its real strokes, seeded by
    ``(seed, sketch index)`` so the result does not depend on batching or process count."""
    order = batch.order.clone()
    for b, (n, index) in enumerate(zip(batch.num_strokes.tolist(), batch.index.tolist())):
        perm = np.random.default_rng([seed, index]).permutation(n)
        order[b, :n] = batch.order[b, :n][torch.as_tensor(perm, device=order.device)]
    return order


@torch.no_grad()
def run_order_reliance(ctx) -> TaskResult:
    cfg = ctx.task_config
    model = ctx.load_encoder(ctx.checkpoint).eval()
    split = ctx.data.split(cfg["split"])
    indices = np.arange(len(split))[:cfg["max_sketches"]]
    rows = []
    for batch in ctx.eval_batches(cfg["split"], cfg["batch_size"], indices=indices):
        true = (model(batch).argmax(-1) == batch.labels).cpu().numpy()
        moved = (model(batch.replace(order=shuffled_order(batch, ctx.seed))).argmax(-1) == batch.labels).cpu().numpy()
        rows += [{"index": int(i), "correct_true": bool(t), "correct_shuffled": bool(m),
                  "accuracy_drop": float(t) - float(m)} for i, t, m in zip(batch.index.tolist(), true, moved)]
    # every process explained its own share: gather them on the first, which writes the rows
    payload = np.empty(len(rows), dtype=object)
    payload[:] = rows
    gathered = ctx.gather(np.array([r["index"] for r in rows], dtype=np.int64), {"row": payload})
    if not ctx.dist.is_main:
        return TaskResult(metrics={})
    ctx.write_per_sketch(cfg["split"], list(gathered["row"]))  # the core turns rows into metrics with CIs
    return TaskResult(metrics={}, extra={"sketches": len(gathered["row"])})
