"""Built-in datasets, registered through the same hook as third-party plugins: ``demo`` (synthetic
doodles, the default) and ``quickdraw`` (a file made by ``bench data prepare``).

Importing this module imports neither h5py nor torch (``bench list`` stays fast)."""

from __future__ import annotations

from typing import Any

from benchmark import Dataset, hookimpl
from benchmark.errors import BenchError


class DemoDataset(Dataset):
    """Synthetic doodles (12 classes told apart by stroke layout), generated and cached on first use."""

    name = "demo"
    synthetic = True
    defaults = {"seed": 0, "per_class_train": 160, "per_class_valid": 40, "per_class_test": 50}

    @classmethod
    def open(cls, config: dict[str, Any]):
        from benchmark.data.demo import load_demo

        sizes = {}
        for split in ("train", "valid", "test"):
            key, least = f"per_class_{split}", 1 if split == "train" else 0
            value = config.get(key, cls.defaults[key])
            try:
                sizes[split] = int(value)
            except (TypeError, ValueError):
                sizes[split] = -1
            if sizes[split] < least or str(value).strip() != str(sizes[split]):
                raise BenchError(f"dataset demo: {key} must be a whole number of at least {least}, not {value!r}")
        return load_demo(int(config.get("seed", 0)), sizes)


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
    register(QuickDrawDataset)


@hookimpl
def bench_register_perf_targets(register):
    register("data", "benchmark.perf_data", "HDF5 random-access reads through the collate vs one dataset per sketch")
