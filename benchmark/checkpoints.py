"""Encoder checkpoints: a folder with ``model.safetensors`` and ``config.json``.

``config.json`` holds ``format`` (=1), ``encoder`` (registered name), ``encoder_version``,
``num_classes``, ``config`` (what :meth:`Encoder.build` received), ``categories`` and free-form
``meta`` (the run that produced it, epoch, valid metrics). Folders are written to a temporary
sibling and renamed, so a checkpoint is either complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from benchmark.config import check_number
from benchmark.errors import BenchError
from benchmark.model_size import check_fits, count_parameters

FORMAT = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_checkpoint(folder: str | Path, encoder_name: str, encoder_version: str, module: torch.nn.Module,
                    config: dict[str, Any], categories: list[str], meta: dict[str, Any] | None = None) -> Path:
    """Write ``module``'s weights and config to ``folder`` atomically (replacing an old one)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
        save_file(state, tmp / WEIGHTS)
        info = {"format": FORMAT, "encoder": encoder_name, "encoder_version": encoder_version,
                "num_classes": int(getattr(module, "num_classes", len(categories))), "config": config,
                "categories": list(categories), "meta": meta or {}}
        (tmp / CONFIG).write_text(json.dumps(info, indent=2, sort_keys=True))
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def is_checkpoint(source: str | Path) -> bool:
    """Whether ``source`` is meant as a folder of this module: a folder whose ``config.json`` is
    not a JSON object without ``format`` (a HuggingFace-layout folder, say), or that has
    ``model.safetensors`` and no ``config.json``. Anything else is for ``Encoder.load_external``."""
    folder = Path(source)
    if not folder.is_dir():
        return False
    path = folder / CONFIG
    if not path.is_file():
        return (folder / WEIGHTS).is_file()
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True  # read_checkpoint_config names the problem
    return not isinstance(info, dict) or "format" in info


def read_checkpoint_config(folder: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder, with a clear error when it is not one."""
    folder = Path(folder)
    path = folder / CONFIG
    if not (path.is_file() and (folder / WEIGHTS).is_file()):
        raise BenchError(f"{folder} is not a checkpoint folder (expected {CONFIG} and {WEIGHTS} in it)")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}: not valid JSON ({exc}); re-create the checkpoint") from exc
    if info.get("format") != FORMAT:
        raise BenchError(f"{path}: unsupported checkpoint format {info.get('format')!r} (expected {FORMAT})")
    return info


def checked_config(folder: str | Path, info: dict[str, Any], encoder_cls) -> dict[str, Any]:
    """The config to build ``encoder_cls`` with for a checkpoint's ``config.json`` (``info``), checked
    like ``--set`` values before any tensor is allocated: ``num_classes`` a whole number matching
    ``categories``, the encoder's ``check_config`` (its :attr:`~benchmark.Encoder.limits`) and the
    model's float32 weights, twice (module and file), within the machine's memory. Keys that only
    choose initial weights (``init_only``, e.g. a pretrained backbone) are moot and set to null."""
    path = Path(folder) / CONFIG
    try:
        config, categories = info.get("config"), info.get("categories")
        if not isinstance(config, dict):
            raise BenchError("its 'config' is not a JSON object")
        num_classes = check_number("num_classes", info.get("num_classes"), whole=True, least=1)
        if isinstance(categories, list) and categories and len(categories) != num_classes:
            raise BenchError(f"num_classes={num_classes} but it lists {len(categories)} categories")
        config = {**config, **dict.fromkeys(set(getattr(encoder_cls, "init_only", ())) & config.keys())}
        encoder_cls.check_config(config)
        check_fits(f"encoder {encoder_cls.name!r}", count_parameters(encoder_cls, num_classes, config), num_classes,
                   copies=2)
    except BenchError as exc:
        raise BenchError(f"{path}: {exc}; the checkpoint's config is unusable: re-create it or pass another "
                         "--checkpoint") from None
    return config


def load_checkpoint(folder: str | Path, encoder_cls, map_location: str | torch.device = "cpu"):
    """Build ``encoder_cls`` from the folder's config (:func:`checked_config` first) and load its
    weights; returns ``(module, info)``."""
    info = read_checkpoint_config(folder)
    if info.get("encoder") != encoder_cls.name:
        raise BenchError(f"{folder} holds encoder {info.get('encoder')!r}, not {encoder_cls.name!r}")
    config = checked_config(folder, info, encoder_cls)
    module = encoder_cls.build(info["num_classes"], config)
    weights = Path(folder) / WEIGHTS
    try:
        state = load_file(str(weights), device=str(map_location))
    except Exception as exc:  # safetensors.SafetensorError (truncated, bit-flipped), OSError
        raise BenchError(f"{weights}: cannot read these weights ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'corrupt'}); the checkpoint is truncated "
                         "or corrupt: re-create it or pass another --checkpoint") from None
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BenchError(f"{folder}: weights do not fit encoder {encoder_cls.name!r} "
                         f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    return module.to(map_location), info
