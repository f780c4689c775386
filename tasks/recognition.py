"""The ``recognition`` task: train (or load) a classifier, pick the epoch best on *valid*, test it."""

from __future__ import annotations

from benchmark import Metric, Task


class Recognition(Task):
    """Sketch classification: trains when no checkpoint is given, reports top-1/top-5 on test."""

    name = "recognition"
    version = "1"
    defaults = {
        "epochs": 20,
        "batch_size": 100,
        "eval_batch_size": 200,
        "lr": 3e-4,
        "weight_decay": 1e-4,
        "warmup_fraction": 0.05,
        "schedule": "cosine",
        "bucket_batches": 20,
        "valid_split": "valid",
        "test_split": "test",
    }
    metrics = {
        "top1": Metric(True, "top-1 accuracy on the test split", "fraction"),
        "top5": Metric(True, "top-5 accuracy on the test split", "fraction"),
        "test_loss": Metric(False, "mean cross-entropy on the test split", "nats"),
        "valid_top1": Metric(True, "top-1 accuracy on valid of the selected epoch", "fraction"),
        "train_sketches_per_s": Metric(True, "training throughput, all processes", "sketches/s"),
        "eval_sketches_per_s": Metric(True, "test evaluation throughput, all processes", "sketches/s"),
    }

    def run(self, ctx):
        from tasks.training import run_recognition

        return run_recognition(ctx)
