"""Load checkpoints of the published SketchXAI implementation into :class:`StrokeViT`.

The reference's state dict (``ViTForSketchClassification``, transformers 4.x naming) maps as:

==========================================================  ===================================
reference key                                               StrokeViT key
==========================================================  ===================================
``vit.embeddings.cls_token``                                ``cls_token``
``vit.embeddings.stroke_embeddings.<lstm param>``           ``shape.<lstm param>``
``vit.embeddings.order_embeddings.weight``                  ``order.weight``
``vit.embeddings.location_embeddings.{weight,bias}``        ``location.{weight,bias}``
``vit.encoder.layer.N.attention.attention.{query,key,value}``  ``layers.N.attention.{q,k,v}_proj``
``vit.encoder.layer.N.attention.output.dense``              ``layers.N.attention.o_proj``
``vit.encoder.layer.N.intermediate.dense``                  ``layers.N.mlp.fc1``
``vit.encoder.layer.N.output.dense``                        ``layers.N.mlp.fc2``
``vit.encoder.layer.N.layernorm_{before,after}``            ``layers.N.layernorm_{before,after}``
``vit.layernorm``                                           ``layernorm``
``vit.fc``                                                  ``head``
==========================================================  ===================================

Unused by the reference's forward, hence ignored: ``vit.embeddings.mask_token``,
``vit.embeddings.position_embeddings``, ``vit.embeddings.patch_embeddings.*``, ``vit.pooler.*`` and
``classifier.*`` (the image-classification head of the parent class, 2 labels). The reference builds
its head ``vit.fc`` with its ``num_classes`` setting, the dataset's class count (30 rows for
``WinKawaks/SketchXAI-Base-QuickDraw30``, 345 for the QuickDraw345 models); loading into a model with
fewer classes than the head has rows keeps the first ``num_classes`` rows (labels ``0..num_classes-1``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmark.errors import BenchError
from encoders.stroke_vit.hub import hub_error, require_hub_id
from encoders.stroke_vit.model import StrokeViT, build_stroke_vit
from encoders.stroke_vit.settings import DEFAULTS

IGNORED_PREFIXES = ("vit.embeddings.mask_token", "vit.embeddings.position_embeddings",
                    "vit.embeddings.patch_embeddings.", "vit.pooler.", "classifier.")
_LAYER_PARTS = {
    "attention.attention.query": "attention.q_proj",
    "attention.attention.key": "attention.k_proj",
    "attention.attention.value": "attention.v_proj",
    "attention.output.dense": "attention.o_proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "layernorm_before": "layernorm_before",
    "layernorm_after": "layernorm_after",
}
_LAYER_KEY = re.compile(r"^vit\.encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$")
_HEAD = ("vit.fc.weight", "vit.fc.bias")
#: Files looked for in a checkpoint folder, in order.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
#: ViT head size, used to infer the head count when a checkpoint comes without config.json.
HEAD_DIM = 64


def reference_key_map(module: StrokeViT) -> dict[str, str]:
    """``{reference key: module key}`` for every tensor the reference's forward uses."""
    m = {"vit.embeddings.cls_token": "cls_token", "vit.layernorm.weight": "layernorm.weight",
         "vit.layernorm.bias": "layernorm.bias", "vit.fc.weight": "head.weight", "vit.fc.bias": "head.bias",
         "vit.embeddings.order_embeddings.weight": "order.weight",
         "vit.embeddings.location_embeddings.weight": "location.weight",
         "vit.embeddings.location_embeddings.bias": "location.bias"}
    m.update({f"vit.embeddings.stroke_embeddings.{n}": f"shape.{n}" for n, _ in module.shape.named_parameters()})
    for i in range(len(module.layers)):
        for ref, ours in _LAYER_PARTS.items():
            for p in ("weight", "bias"):
                m[f"vit.encoder.layer.{i}.{ref}.{p}"] = f"layers.{i}.{ours}.{p}"
    return m


def load_reference_state_dict(module: StrokeViT, state_dict: dict[str, torch.Tensor]) -> None:
    """Copy a reference state dict into ``module``, with a clear error on any mismatch."""
    state_dict = _strip_ddp_prefix(state_dict)
    key_map = reference_key_map(module)
    ours = module.state_dict()
    ref_layers = {int(m.group(1)) for k in state_dict if (m := _LAYER_KEY.match(k))}
    if ref_layers and max(ref_layers) + 1 != len(module.layers):
        raise BenchError(f"reference checkpoint has {max(ref_layers) + 1} layers, the model {len(module.layers)}; "
                         f"set num_layers={max(ref_layers) + 1}")
    unknown = sorted(k for k in state_dict if k not in key_map and not k.startswith(IGNORED_PREFIXES))
    if unknown:
        raise BenchError(f"reference checkpoint has keys this loader does not know: {unknown[:5]}"
                         f"{' ...' if len(unknown) > 5 else ''}; is it a SketchXAI ViTForSketchClassification?")
    missing = sorted(k for k in key_map if k not in state_dict and key_map[k] in ours)
    if missing:
        raise BenchError(f"reference checkpoint lacks {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    new_state = {}
    for ref_key, key in key_map.items():
        if key not in ours:  # an ablated part (use_location / use_order off)
            if ref_key in state_dict:
                raise BenchError(f"reference checkpoint has {ref_key} but the model has no {key.split('.')[0]} "
                                 f"term; load it with use_location=true and use_order=true")
            continue
        tensor = state_dict[ref_key]
        if ref_key in _HEAD and tensor.shape[0] > module.num_classes:
            tensor = tensor[: module.num_classes]
        if tuple(tensor.shape) != tuple(ours[key].shape):
            raise BenchError(f"reference {ref_key} has shape {tuple(tensor.shape)}, the model's {key} "
                             f"{tuple(ours[key].shape)}; build the model with the checkpoint's sizes "
                             f"(from_reference infers them)")
        new_state[key] = tensor
    module.load_state_dict(new_state, strict=True)


def read_reference_state_dict(source: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, hf_config)`` from a ``.safetensors``/``.bin`` file, a folder holding one (and
    maybe ``config.json``), or a hub id such as ``WinKawaks/SketchXAI-Tiny-QuickDraw345``."""
    path = Path(source).expanduser()
    if not path.exists():
        path = _download(str(source))
    hf_config: dict[str, Any] = {}
    if path.is_dir():
        if (path / "config.json").is_file():
            hf_config = _read_hf_config(path / "config.json")
        files = [path / f for f in WEIGHT_FILES if (path / f).is_file()]
        if not files:
            raise BenchError(f"{path}: no {' or '.join(WEIGHT_FILES)} in this folder")
        path = files[0]
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - safetensors.SafetensorError (truncated, bit-flipped), OSError
            raise BenchError(f"{path}: cannot read these weights ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'corrupt'}); the file is truncated or "
                             "corrupt: download it again or pass another --checkpoint") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a state dict"
            raise BenchError(f"{path}: not a torch state dict ({type(exc).__name__}: {str(exc)[:100]})") from None
        for wrapper in ("state_dict", "model"):  # training checkpoints that wrap the weights
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
    return _strip_ddp_prefix(state), hf_config


def reference_config(state_dict: dict[str, torch.Tensor], hf_config: dict[str, Any]) -> dict[str, Any]:
    """The architecture keys of a reference checkpoint (heads from ``config.json``, else ``H / 64``),
    as found: :func:`from_reference` checks them before building anything."""
    state_dict = _strip_ddp_prefix(state_dict)
    try:
        hidden = int(state_dict["vit.embeddings.cls_token"].shape[-1])
        layers = 1 + max(int(m.group(1)) for k in state_dict if (m := _LAYER_KEY.match(k)))
        mlp = int(state_dict["vit.encoder.layer.0.intermediate.dense.weight"].shape[0])
        max_strokes = int(state_dict["vit.embeddings.order_embeddings.weight"].shape[0])
    except (KeyError, ValueError) as exc:
        raise BenchError(f"not a SketchXAI reference checkpoint (missing {exc})") from None
    return {"hidden_size": hidden, "num_layers": layers, "mlp_size": mlp, "max_strokes": max_strokes,
            "num_heads": hf_config.get("num_attention_heads", hidden // HEAD_DIM),
            "dropout": hf_config.get("hidden_dropout_prob", 0.1),
            "attention_dropout": hf_config.get("attention_probs_dropout_prob", 0.1)}


def from_reference(source: str | Path, num_classes: int | None = None,
                   config: dict[str, Any] | None = None,
                   check: Callable[[dict[str, Any]], None] | None = None) -> StrokeViT:
    """A :class:`StrokeViT` in eval mode holding a reference checkpoint (file, folder or hub id).

    Sizes are inferred from the checkpoint; ``reference_compat`` defaults to True (the numerics the
    weights were trained with); ``config`` overrides keys. ``num_classes`` defaults to the rows of
    the reference head (its training data's class count). The full encoder config is kept as ``module.encoder_config`` (for
    :func:`benchmark.checkpoints.save_checkpoint` under ``stroke_vit_tiny`` / ``stroke_vit_base``).
    Before the module is built its config goes through ``check`` (the encoder's ``check_config``:
    :meth:`encoders.stroke_vit.StrokeViTEncoder.load_external` passes it) and its float32 weights
    must fit the machine's memory.
    """
    state, hf_config = read_reference_state_dict(source)
    cfg = {**DEFAULTS, **reference_config(state, hf_config), "reference_compat": True,
           **(config or {})}
    rows = int(state["vit.fc.weight"].shape[0]) if "vit.fc.weight" in state else None
    num_classes = int(num_classes or rows or 0)
    if rows is not None and num_classes > rows:
        raise BenchError(f"{source}: its head has {rows} classes, fewer than num_classes={num_classes}")
    _check_sizes(source, num_classes, cfg, check)
    module = build_stroke_vit(num_classes, cfg)
    load_reference_state_dict(module, state)
    module.encoder_config = cfg
    return module.eval()


def _read_hf_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: not a readable JSON file ({type(exc).__name__}: {str(exc)[:100]}); "
                         "download the checkpoint again or pass another --checkpoint") from None
    if not isinstance(config, dict):
        raise BenchError(f"{path}: not a JSON object; download the checkpoint again or pass another --checkpoint")
    return config


def _check_sizes(source: str | Path, num_classes: int, cfg: dict[str, Any],
                 check: Callable[[dict[str, Any]], None] | None) -> None:
    """The sizes read from a published checkpoint (its weights and ``config.json``), checked like
    ``--set`` values (``check``: the encoder's limits) and against the machine's memory before the
    module is built."""
    from benchmark.model_size import check_fits, meta_parameters

    try:
        if check is not None:
            check(cfg)
        check_fits("the model", meta_parameters(lambda: build_stroke_vit(num_classes, cfg)), num_classes)
    except BenchError as exc:
        raise BenchError(f"--checkpoint {source}: {exc}; its config.json or weights are not a usable SketchXAI "
                         "checkpoint: pass another --checkpoint") from None


def _strip_ddp_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints saved from a DistributedDataParallel wrapper prefix every key with ``module.``."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict


def _download(repo_id: str) -> Path:
    require_hub_id(repo_id, f"{repo_id}: no such file or folder")
    import huggingface_hub

    try:
        return Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=["*.json", *WEIGHT_FILES]))
    except Exception as exc:  # noqa: BLE001 - network, cache and validation errors all end here
        raise hub_error(repo_id, exc, f"huggingface_hub.snapshot_download({repo_id!r}, local_dir=FOLDER)",
                        "pass its path instead") from None
