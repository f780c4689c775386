"""Will an encoder fit in memory? Its parameters are counted on torch's meta device (no memory,
no weights) and their float32 size compared with the machine's physical memory, before any real
tensor is allocated: for ``--set`` sizes when runs are planned and for every checkpoint's config
before it is built."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from benchmark.errors import BenchError

#: Bytes of one float32 parameter.
FLOAT32 = 4


def machine_memory() -> int | None:
    """Physical memory in bytes (``None`` where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def meta_parameters(build: Callable[[], Any]) -> int:
    """Trainable parameters of the module ``build()`` returns, built on the meta device."""
    import torch

    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_parameters(encoder_cls, num_classes: int, config: dict[str, Any]) -> int:
    """Trainable parameters of an encoder, built on the meta device (no memory, no weights loaded)."""
    init_only = {k: None for k in encoder_cls.init_only if k in config}
    return meta_parameters(lambda: encoder_cls.build(num_classes, {**config, **init_only}))


def check_fits(what: str, parameters: int, num_classes: int, copies: int = 1) -> None:
    """A one-line :class:`BenchError` with the estimate when ``copies`` float32 copies of
    ``parameters`` weights (1: the module; 2: the module and the weights read from a checkpoint)
    exceed the machine's memory. ``what`` names the model (``encoder 'stroke_vit_tiny'``). Count the
    parameters after ``check_config``, whose bounds keep the meta build itself small."""
    need, have = parameters * FLOAT32 * copies, machine_memory()
    if have is not None and need > have:
        raise BenchError(f"{what} with these sizes has {parameters:.3g} parameters ({num_classes} classes): "
                         f"{_gb(need)} for its float32 weights alone, more than this machine's {_gb(have)} "
                         "of memory; choose smaller sizes")


def _gb(nbytes: int) -> str:
    return f"{nbytes / 2**30:,.1f} GB"
