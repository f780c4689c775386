"""Floating-point operations of the stroke-aware ViT at its real shapes (the default model: tokens
only for real strokes, CLS added), counted from the architecture: the FLOP limits of ``bench perf
recognition``, ``scaling`` and ``sli`` divide a measured matmul rate by these. The tests hold them
to torch's FLOP counter (:func:`benchmark.perf.counted_flops`)."""

from __future__ import annotations

import numpy as np


def model_flops(sketches: list[np.ndarray], hidden: int = 192, layers: int = 12, mlp: int = 768,
                train: bool = False) -> float:
    """Forward FLOPs (x3 for training) of the real tokens: LSTM over points, ViT over strokes + CLS."""
    total = 0.0
    h2 = hidden // 2
    for s in sketches:
        points = len(s)
        tokens = int((s[:, 2] > 0.5).sum()) + 1
        lstm = points * 2 * 2 * (4 * h2 * (4 + h2) + 4 * h2 * (2 * h2 + h2))  # 2 layers, 2 directions
        vit = layers * (2 * tokens * (4 * hidden * hidden + 2 * hidden * mlp) + 4 * tokens * tokens * hidden)
        total += lstm + vit + 2 * hidden * 4 * (tokens - 1)
    return total * (3 if train else 1)


def sli_step_flops(sketches: list[np.ndarray], hidden: int = 192, layers: int = 12, mlp: int = 768) -> float:
    """FLOPs of one stroke-location-inversion step over ``sketches`` as the packed path runs it: the
    layers' forward pass on the real tokens (+ CLS), the last layer for the CLS query only (keys and
    values of every token), and the backward pass with respect to the inputs only (frozen weights:
    each linear layer's matmul once more, attention's two matmuls twice more). The shape LSTM runs
    once before the steps and is not counted."""
    total = 0.0
    for s in sketches:
        t = int((s[:, 2] > 0.5).sum()) + 1
        linear = (layers - 1) * 2 * t * (4 * hidden * hidden + 2 * hidden * mlp)
        linear += 2 * t * 3 * hidden * hidden + 2 * (hidden * hidden + 2 * hidden * mlp)  # last layer
        attention = (layers - 1) * 4 * t * t * hidden + 4 * t * hidden
        total += 2 * linear + 3 * attention
    return total
