"""The ``recognition`` task: train (or load) a classifier, pick the epoch best on *valid*, test it."""

from __future__ import annotations

from benchmark import Metric, Task
from benchmark.config import check_choice, check_number
from benchmark.errors import BenchError


#: Named training recipes (``recognition.recipe``); ``epochs`` / ``lr`` set on the command win.
RECIPES = {
    "published": {"lr": 3e-4, "epochs": 20, "min_steps": 0,
                  "about": "SketchXAI's: AdamW lr 3e-4 for 20 epochs, sized for 70,000 drawings a class"},
    "auto": {"lr": 1e-3, "epochs": 20, "min_steps": 600,
             "about": "AdamW lr 1e-3 for at least 20 epochs and at least recognition.min_steps optimisation steps, "
                      "so small data gets the updates it needs"},
}


def resolve_recipe(cfg: dict, steps_per_epoch: int) -> dict:
    """The epochs and learning rate a run trains with: the recipe's, sized to ``steps_per_epoch``
    (``auto``: ``max(20, ceil(min_steps / steps_per_epoch))`` epochs), unless the command set
    ``epochs`` or ``lr``; the result is recorded (``extra.recipe``) with where each value came from."""
    recipe = RECIPES[cfg["recipe"]]
    min_steps = cfg["min_steps"] if cfg["min_steps"] is not None else recipe["min_steps"]
    sized = max(recipe["epochs"], -(-min_steps // max(steps_per_epoch, 1)))
    return {"name": cfg["recipe"], "about": recipe["about"], "steps_per_epoch": steps_per_epoch,
            "epochs": cfg["epochs"] if cfg["epochs"] is not None else sized,
            "epochs_from": "command" if cfg["epochs"] is not None else f"recipe {cfg['recipe']}",
            "lr": cfg["lr"] if cfg["lr"] is not None else recipe["lr"],
            "lr_from": "command" if cfg["lr"] is not None else f"recipe {cfg['recipe']}",
            "min_steps": min_steps}


class Recognition(Task):
    """Sketch classification: trains when no checkpoint is given, reports top-1/top-5 on test.

    Training follows ``recipe`` (see :data:`RECIPES`): ``auto`` (default) sizes the number of epochs
    to the data, ``published`` is SketchXAI's recipe; ``epochs`` and ``lr`` (null: the recipe's)
    override it. The epoch kept is the one best on ``valid_split``."""

    name = "recognition"
    version = "1"
    defaults = {
        "recipe": "auto",
        "epochs": None,
        "min_steps": None,
        "batch_size": 100,
        "eval_batch_size": 200,
        "lr": None,
        "weight_decay": 1e-4,
        "warmup_fraction": 0.05,
        "schedule": "cosine",
        "bucket_batches": 20,
        "valid_split": "valid",
        "test_split": "test",
    }
    order = 0
    family = "recognition"
    question = "Which encoder recognises sketches best?"
    row_facts = ("parameters",)
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
        check_choice(f"{cls.name}.recipe", config["recipe"], tuple(RECIPES))
        for key in ("batch_size", "eval_batch_size"):
            config[key] = check_number(f"{cls.name}.{key}", config[key], whole=True, least=1)
        config["epochs"] = check_number(f"{cls.name}.epochs", config["epochs"], whole=True, least=1, nullable=True,
                                        null_means="the recipe's")
        config["min_steps"] = check_number(f"{cls.name}.min_steps", config["min_steps"], whole=True, least=0,
                                           nullable=True, null_means="the recipe's")
        config["bucket_batches"] = check_number(f"{cls.name}.bucket_batches", config["bucket_batches"], whole=True, least=0)
        check_number(f"{cls.name}.lr", config["lr"], above=0, nullable=True, null_means="the recipe's")
        check_number(f"{cls.name}.weight_decay", config["weight_decay"], least=0)
        check_number(f"{cls.name}.warmup_fraction", config["warmup_fraction"], least=0, below=1)
        check_choice(f"{cls.name}.schedule", config["schedule"], ("cosine", "constant"))
        if config["valid_split"] == config["test_split"]:
            raise BenchError(f"{cls.name}.valid_split and {cls.name}.test_split are both {config['test_split']!r}: the epoch "
                             f"must not be selected on the split it is tested on")

    def run(self, ctx):
        from tasks.training import run_recognition

        return run_recognition(ctx)
