"""The recognition family: ``recognition`` trains (or loads) a sketch classifier, keeps the epoch
best on *valid* and tests it (top-1, top-5, loss, throughput). It is the built-in classifier
provider: the other families explain the classifier it trains.

Where each part lives (this module is light: no torch):

- here: the :class:`Recognition` task (settings, metrics) and the family's perf targets;
- :mod:`tasks.recognition.recipe`: the named training recipes and how they are sized to the data;
- :mod:`tasks.recognition.training`: the training loop, evaluation, checkpoints and resume state;
- :mod:`tasks.recognition.perf`: ``bench perf recognition|scaling|first-epoch|baselines|contention``.
"""

from __future__ import annotations

from benchmark import Metric, Task
from benchmark.config import check_choice, check_number
from benchmark.errors import BenchError
from tasks.recognition.recipe import RECIPES


class Recognition(Task):
    """Sketch classification: trains when no checkpoint is given, reports top-1/top-5 on test.

    Training follows ``recipe`` (see :data:`RECIPES`): ``auto`` (default) sizes the number of epochs
    to the data, ``published`` is SketchXAI's recipe; ``epochs`` and ``lr`` (null: the recipe's)
    override it. The epoch kept is the one best on ``valid_split``.

    ``location_noise`` (default 0: none) is a training augmentation: every real stroke's start
    point is moved by normal noise of that standard deviation (normalised units; the canvas is 2
    wide) at every training step, the stroke's shape kept, so the larger it is the less a
    classifier can learn from where strokes are (valid and test stay clean). The validation ladder
    (:mod:`tasks.validation`) grades classifiers' layout knowledge with it."""

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
        "location_noise": 0.0,
    }
    order = 0
    family = "recognition"
    question = "Which encoder recognises sketches best?"
    row_facts = ("parameters",)
    #: a classifier trained with location noise is reused only by a command that names the noise
    distinct_settings = ("location_noise",)
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
        config["location_noise"] = float(check_number(f"{cls.name}.location_noise", config["location_noise"], least=0))
        if config["valid_split"] == config["test_split"]:
            raise BenchError(f"{cls.name}.valid_split and {cls.name}.test_split are both {config['test_split']!r}: the epoch "
                             f"must not be selected on the split it is tested on")

    def run(self, ctx):
        from tasks.recognition.training import run_recognition

        return run_recognition(ctx)


TASKS = (Recognition,)
#: ``bench perf`` targets of the family: (name, module with ``main(argv)``, what it measures).
PERF_TARGETS = (
    ("recognition", "tasks.recognition.perf.throughput",
     "stroke_vit_tiny train/eval on the 30 real categories vs the published implementation"),
    ("scaling", "tasks.recognition.perf.scaling",
     "stroke_vit_tiny train/eval sketches/s against strokes per sketch (1..196), default vs reference_compat"),
    ("first-epoch", "tasks.recognition.perf.first_epoch",
     "why the first training epoch is slower: two fresh models in one process, CPU and page faults per epoch"),
    ("baselines", "tasks.recognition.perf.baselines", "train/eval sketches/s of every baseline encoder"),
    ("contention", "tasks.recognition.perf.contention",
     "a training step alone vs beside a busy process, all-cores threads vs the idle-core default"),
)
