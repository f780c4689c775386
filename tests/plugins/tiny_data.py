"""A one-file test plugin: the ``tiny`` dataset (4 classes told apart by where two strokes sit)."""

import numpy as np

from benchmark import Dataset, hookimpl
from benchmark.data.sketches import SketchData, SketchSplit

LAYOUTS = {"above": (0.0, 0.4), "below": (0.0, -0.4), "left": (-0.4, 0.0), "right": (0.4, 0.0)}


def _sketch(rng, offset):
    """A circle-ish stroke at the origin and a short bar displaced by ``offset``."""
    t = np.linspace(0, 2 * np.pi, int(rng.integers(6, 12)))
    circle = np.stack([0.3 * np.cos(t), 0.3 * np.sin(t)], 1) + rng.normal(0, 0.02, 2)
    bar = np.array([[-0.15, 0.0], [0.15, 0.0]]) + np.asarray(offset) + rng.normal(0, 0.03, 2)
    strokes = [circle, bar]
    return np.concatenate([np.column_stack([s, np.eye(len(s))[-1]]) for s in strokes]).astype(np.float32)


class Tiny(Dataset):
    """Four synthetic classes (a bar above/below/left/right of a circle); for tests."""

    name = "tiny"
    synthetic = True
    #: ``stroke_labels``: label each sketch's bar (the class evidence) 1 and its circle 0, as
    #: ``demo_distractors`` labels evidence and distractors (for stroke_pointing)
    defaults = {"per_class": {"train": 24, "valid": 6, "test": 7}, "seed": 0, "stroke_labels": False}

    @classmethod
    def open(cls, config):
        rng = np.random.default_rng(config["seed"])
        splits = {}
        for split, n in config["per_class"].items():
            labels = np.repeat(np.arange(len(LAYOUTS)), n)
            sketches = [_sketch(rng, LAYOUTS[list(LAYOUTS)[y]]) for y in labels]
            splits[split] = SketchSplit.from_sketches(split, sketches, labels)
            if config.get("stroke_labels"):
                splits[split].stroke_labels = np.tile(np.array([0, 1], dtype=np.int8), len(labels))
        data = SketchData("tiny", list(LAYOUTS), splits, synthetic=True, source="tests/plugins/tiny_data.py")
        data.checksum = data.compute_checksum()
        return data


@hookimpl
def bench_register_datasets(register):
    register(Tiny)
