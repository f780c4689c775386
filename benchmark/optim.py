"""The optimiser of every training loop: AdamW, fused where torch has a fused kernel for the parameters.

torch's default AdamW on CPU updates one parameter tensor at a time, several elementwise kernels
each (for stroke_vit_tiny's ~200 tensors, 25 ms a step on 2 cores, about a tenth of a training
step); the fused implementation does the whole update in one pass over each tensor (5 ms: ``bench
perf recognition`` measures both). Same update rule and state (checkpoints and resumed state load
either way); the same steps within float rounding (tests/test_stroke_vit.py), except on weights
whose true gradient is zero, such as attention key biases, where Adam turns float noise into steps
of size lr with either implementation.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

#: Devices and dtypes torch's fused AdamW supports.
FUSED_DEVICES = ("cpu", "cuda")
FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def adamw(parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
          fused: bool | None = None) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over ``parameters``; ``fused=None`` picks the fused kernel where every
    parameter's device and dtype support it (a plugin's encoder on another device gets the default)."""
    params = list(parameters)
    if fused is None:
        fused = bool(params) and all(p.device.type in FUSED_DEVICES and p.dtype in FUSED_DTYPES for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
