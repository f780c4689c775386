"""The ``recognition`` task: train (or load) a classifier, pick the epoch best on *valid*, test it."""

from __future__ import annotations

from benchmark import Metric, Task
from benchmark.config import check_choice, check_number
from benchmark.errors import BenchError


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

    @classmethod
    def check_config(cls, config):
        for key in ("epochs", "batch_size", "eval_batch_size"):
            config[key] = check_number(f"task.{key}", config[key], whole=True, least=1)
        config["bucket_batches"] = check_number("task.bucket_batches", config["bucket_batches"], whole=True, least=0)
        check_number("task.lr", config["lr"], above=0)
        check_number("task.weight_decay", config["weight_decay"], least=0)
        check_number("task.warmup_fraction", config["warmup_fraction"], least=0, below=1)
        check_choice("task.schedule", config["schedule"], ("cosine", "constant"))
        if config["valid_split"] == config["test_split"]:
            raise BenchError(f"task.valid_split and task.test_split are both {config['test_split']!r}: the epoch "
                             f"must not be selected on the split it is tested on")

    def run(self, ctx):
        from tasks.training import run_recognition

        return run_recognition(ctx)
