"""What several task families draw the same way: the seeded sample of sketches a run evaluates, and the start layouts
that replace the true stroke locations (``location_reliance`` scrambles with them, SLI starts
from them, attribution samples its sketches like SLI). One definition, so that draw 0 of
``location_reliance`` is exactly the start ``sli_recovery`` uses with the same seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from benchmark.config import check_choice

if TYPE_CHECKING:  # light module: torch is imported only when start layouts are drawn
    from collections.abc import Callable

    import torch

    from benchmark.batch import StrokeBatch

#: How the true start locations are replaced (``task.init``; see :func:`start_locations`).
INITS = ("randn", "zero", "shuffle", "original")
#: Random stream of the sketch sample (distinct from every other stream a task seeds).
_SAMPLE_STREAM = 3


def select_sketches(candidates: np.ndarray, max_sketches: int | None, seed: int) -> np.ndarray:
    """A seeded sample of ``max_sketches`` of ``candidates`` (all when ``None``), sorted."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if max_sketches is None or max_sketches >= len(candidates):
        return np.sort(candidates)
    rng = np.random.default_rng([seed, _SAMPLE_STREAM])
    return np.sort(rng.choice(candidates, size=int(max_sketches), replace=False))


def per_sketch_normal(batch: StrokeBatch, key: Callable[[int], list[int]], scale: float) -> np.ndarray:
    """``(B, S, 2)`` float64 normal noise of standard deviation ``scale`` on each sketch's real
    strokes, drawn from a generator seeded by ``key(index)`` (the sketch's dataset index), so it does
    not depend on batching or sharding; zero on padded strokes. The one draw behind SLI's random
    starts (:func:`start_locations`), its noisy local starts and recognition's ``location_noise``."""
    out = np.zeros(tuple(batch.locations.shape), dtype=np.float64)
    for row, (index, n) in enumerate(zip(batch.index.cpu().numpy(), batch.num_strokes.cpu().numpy())):
        out[row, :n] = np.random.default_rng(key(int(index))).standard_normal((n, 2)) * scale
    return out


def start_locations(batch: StrokeBatch, mode: str, scale: float, seed: int, draw: int = 0) -> torch.Tensor:
    """``(B, S, 2)`` starting locations, each sketch's drawn from its own generator seeded by
    ``(seed, index)`` (so they do not depend on batching or sharding): ``randn`` (normal with
    standard deviation ``scale``, as published with 0.1), ``zero``, ``shuffle`` (a random
    permutation of the sketch's true start points) or ``original`` (the true start points: how
    far does the classifier move a correct layout?); zero on padded strokes. ``draw > 0`` gives
    further independent draws (``draw=0`` is the SLI start; ``location_reliance`` averages several)."""
    import torch

    check_choice("task.init", mode, INITS)
    true = batch.locations.detach().cpu().numpy()
    key = lambda index: [seed, index, 0] + ([draw] if draw else [])
    if mode == "randn":
        return torch.from_numpy(per_sketch_normal(batch, key, scale).astype(true.dtype)).to(batch.locations.device)
    out = np.zeros_like(true)
    for row, (index, n) in enumerate(zip(batch.index.cpu().numpy(), batch.num_strokes.cpu().numpy())):
        if mode == "shuffle":
            out[row, :n] = true[row, np.random.default_rng(key(int(index))).permutation(n)]
        elif mode == "original":
            out[row, :n] = true[row, :n]
    return torch.from_numpy(out).to(batch.locations.device)
