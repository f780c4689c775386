"""Synthetic QuickDraw sources for tests: official-format *simplified* ndjson files written in
``tmp_path`` (plain or gzip-compressed), so tests that prepare data never depend on the real sample."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np


def drawing_lines(category: str, count: int, seed: int = 0) -> list[str]:
    """``count`` ndjson lines of ``category``: 2-4 strokes of 3-8 integer points in 0..255 each."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        strokes = []
        for _ in range(int(rng.integers(2, 5))):
            n = int(rng.integers(3, 9))
            strokes.append([rng.integers(0, 256, n).tolist(), rng.integers(0, 256, n).tolist()])
        lines.append(json.dumps({"word": category, "countrycode": "GB", "timestamp": "2017-03-01 00:00:00.0",
                                 "recognized": True, "key_id": str(10**15 + seed * 10**6 + i), "drawing": strokes}))
    return lines


def write_source(folder: Path, categories: list[str], count: int = 12, compressed: bool = False) -> Path:
    """A folder of ``CATEGORY.ndjson`` (or ``.ndjson.gz``) files, ``count`` drawings each; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, category in enumerate(categories):
        text = ("\n".join(drawing_lines(category, count, seed)) + "\n").encode()
        if compressed:
            (folder / f"{category}.ndjson.gz").write_bytes(gzip.compress(text))
        else:
            (folder / f"{category}.ndjson").write_bytes(text)
    return folder
