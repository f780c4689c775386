"""``order_reliance``: how much a trained classifier relies on the order the strokes were drawn in.

Each test sketch is classified with its strokes' true drawing order and with the order indices
shuffled among its strokes (the shapes and locations stay; only ``batch.order`` changes); the
per-sketch accuracy drop is the metric, with its CI from the core. A classifier without an order
embedding (``stroke_vit_tiny_no_order``) scores 0 by construction.

The task uses the classifier the benchmark trained: ``requires_trained = True`` makes the runner
pass ``--checkpoint`` or the newest matching ``recognition`` checkpoint (training one first if there
is none) as ``ctx.checkpoint``, and ``ctx.load_encoder(ctx.checkpoint)`` loads it. This module stays
light (no torch import) so that ``bench list`` is fast; the torch code is in :mod:`.run`.
"""

from benchmark import Metric, Task, hookimpl
from benchmark.config import check_number


class OrderReliance(Task):
    name = "order_reliance"
    description = "How much a classifier relies on drawing order: accuracy lost when stroke order is shuffled"
    version = "1"
    requires_trained = True
    order = 6
    defaults = {"split": "test", "max_sketches": None, "batch_size": 200}
    metrics = {
        "order_reliance": Metric(True, "top-1 accuracy lost when the strokes' drawing-order indices are shuffled "
                                       "among them", "fraction", label="order reliance", headline=True,
                                 field="accuracy_drop"),
        "top1_true_order": Metric(True, "top-1 accuracy with the true drawing order", "fraction",
                                  label="top-1, true order", field="correct_true", aggregation="proportion"),
        "top1_shuffled_order": Metric(True, "top-1 accuracy with shuffled drawing order", "fraction",
                                      label="top-1, shuffled", field="correct_shuffled", aggregation="proportion"),
    }

    @classmethod
    def check_config(cls, config):
        config["batch_size"] = check_number(f"{cls.name}.batch_size", config["batch_size"], whole=True, least=1)
        config["max_sketches"] = check_number(f"{cls.name}.max_sketches", config["max_sketches"], whole=True,
                                              least=1, nullable=True, null_means="all")

    def run(self, ctx):
        from bench_order_reliance.run import run_order_reliance

        return run_order_reliance(ctx)


@hookimpl
def bench_register_tasks(register):
    register(OrderReliance)
