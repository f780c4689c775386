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
    order = 0
    metrics = {
        "top1": Metric(True, "top-1 accuracy on the test split", "fraction", label="top-1", headline=True,
                       field="correct", aggregation="proportion"),
        "top5": Metric(True, "top-5 accuracy on the test split", "fraction", label="top-5", headline=True,
                       field="top5", aggregation="proportion"),
        "test_loss": Metric(False, "mean cross-entropy on the test split", "nats", label="test loss", field="loss"),
        "valid_top1": Metric(True, "top-1 accuracy on valid of the selected epoch", "fraction", label="valid top-1"),
        "train_sketches_per_s": Metric(True, "training throughput, all processes", "sketches/s",
                                       label="train speed", headline=True, kind="speed"),
        "eval_sketches_per_s": Metric(True, "test evaluation throughput, all processes", "sketches/s",
                                      label="eval speed", headline=True, kind="speed"),
    }

    @classmethod
    def check_config(cls, config):
        for key in ("epochs", "batch_size", "eval_batch_size"):
            config[key] = check_number(f"{cls.name}.{key}", config[key], whole=True, least=1)
        config["bucket_batches"] = check_number(f"{cls.name}.bucket_batches", config["bucket_batches"], whole=True, least=0)
        check_number(f"{cls.name}.lr", config["lr"], above=0)
        check_number(f"{cls.name}.weight_decay", config["weight_decay"], least=0)
        check_number(f"{cls.name}.warmup_fraction", config["warmup_fraction"], least=0, below=1)
        check_choice(f"{cls.name}.schedule", config["schedule"], ("cosine", "constant"))
        if config["valid_split"] == config["test_split"]:
            raise BenchError(f"{cls.name}.valid_split and {cls.name}.test_split are both {config['test_split']!r}: the epoch "
                             f"must not be selected on the split it is tested on")

    def run(self, ctx):
        from tasks.training import run_recognition

        return run_recognition(ctx)
