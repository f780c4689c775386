"""Built-in datasets, registered through the same hook as third-party plugins: ``demo`` (synthetic
doodles, the default), ``demo_distractors`` (the same with labelled distractor strokes from other sketches) and
``quickdraw`` (a file made by ``bench data prepare``).

Importing this module imports neither h5py nor torch (``bench list`` stays fast)."""

from __future__ import annotations

from typing import Any

from benchmark import Dataset, hookimpl
from benchmark.config import check_number
from benchmark.errors import BenchError


class DemoDataset(Dataset):
    """Synthetic doodles (12 classes told apart by stroke layout), generated and cached on first use."""

    name = "demo"
    synthetic = True
    defaults = {"seed": 0, "per_class_train": 160, "per_class_valid": 40, "per_class_test": 50}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        for split in ("train", "valid", "test"):
            key = f"per_class_{split}"
            config[key] = check_number(f"data.{key}", config.get(key, cls.defaults[key]), whole=True,
                                       least=1 if split == "train" else 0)
        config["seed"] = check_number("data.seed", config.get("seed", 0), whole=True, least=0)

    @classmethod
    def open(cls, config: dict[str, Any]):
        from benchmark.data.demo import load_demo

        config = {**cls.defaults, **config}
        cls.check_config(config)
        return load_demo(config["seed"], {split: config[f"per_class_{split}"] for split in ("train", "valid", "test")})


class DemoDistractorsDataset(DemoDataset):
    """The demo doodles plus distractor strokes taken from other sketches of the split, each stroke
    labelled evidence or distractor (for stroke_pointing)."""

    name = "demo_distractors"
    defaults = {**DemoDataset.defaults, "distractors": 3}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        super().check_config(config)
        config["distractors"] = check_number("data.distractors", config.get("distractors", 3), whole=True, least=1,
                                             most=20)

    @classmethod
    def open(cls, config: dict[str, Any]):
        from benchmark.data.demo import load_demo

        config = {**cls.defaults, **config}
        cls.check_config(config)
        return load_demo(config["seed"], {split: config[f"per_class_{split}"] for split in ("train", "valid", "test")},
                         distractors=config["distractors"])


class QuickDrawDataset(Dataset):
    """Real QuickDraw drawings from a file made by ``bench data prepare`` (config key ``path``)."""

    name = "quickdraw"
    defaults = {"path": None}
    suffixes = (".h5", ".hdf5")

    @classmethod
    def open(cls, config: dict[str, Any]):
        from benchmark.data.h5store import open_h5

        if not config.get("path"):
            raise BenchError("dataset quickdraw needs a prepared file: --set path=FILE.h5 "
                             "(make one with `bench data prepare`)")
        return open_h5(config["path"], lazy=True)  # memory-mapped: processes share the page cache


@hookimpl
def bench_register_datasets(register):
    register(DemoDataset)
    register(DemoDistractorsDataset)
    register(QuickDrawDataset)


@hookimpl
def bench_register_perf_targets(register):
    register("data", "benchmark.data.perf", "HDF5 random-access reads through the collate vs one dataset per sketch")
