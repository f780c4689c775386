"""A one-file plugin task, ``toy_rank``: where an untrained (seeded) encoder ranks the label, and how
often it agrees with it, on the test split. It declares two per-sketch metrics, a mean and a proportion, and the
core does the rest (CIs, record, leaderboard columns, close-call tests); nothing in the core names it."""

import numpy as np

from benchmark import Metric, Task, TaskResult, hookimpl


class ToyRank(Task):
    """Label rank and agreement of a freshly initialised encoder (a toy for tests)."""

    name = "toy_rank"
    version = "1"
    order = 50
    defaults = {"split": "test", "batch_size": 64}
    metrics = {
        "label_rank": Metric(False, "mean rank of the label among the classes (0: top)", "", label="label rank",
                             headline=True, field="rank"),
        "agreement": Metric(True, "fraction of sketches whose top class is the label", "fraction",
                            label="agreement", headline=True, field="agrees", aggregation="proportion"),
        "strokes": Metric(True, "mean number of strokes", "strokes", field="num_strokes"),
    }

    def run(self, ctx):
        import torch

        model = ctx.build_encoder().eval()
        index, rank, agrees, strokes = [], [], [], []
        with torch.no_grad():
            for batch in ctx.eval_batches(ctx.task_config["split"], ctx.task_config["batch_size"]):
                probs = model(batch).softmax(-1)
                index.append(batch.index.cpu().numpy())
                label_p = probs.gather(1, batch.labels[:, None])
                rank.append((probs > label_p).sum(-1).cpu().numpy())
                agrees.append((probs.argmax(-1) == batch.labels).cpu().numpy())
                strokes.append(batch.num_strokes.cpu().numpy())
        out = ctx.gather(np.concatenate(index), {"rank": np.concatenate(rank),
                                                 "agrees": np.concatenate(agrees), "strokes": np.concatenate(strokes)})
        if out is not None:
            ctx.write_per_sketch(ctx.task_config["split"], [
                {"index": int(i), "rank": int(r), "agrees": bool(a), "num_strokes": int(n)}
                for i, r, a, n in zip(out["index"], out["rank"], out["agrees"], out["strokes"])])
        return TaskResult(metrics={})


@hookimpl
def bench_register_tasks(register):
    register(ToyRank)
