"""Initialise a stroke ViT (:class:`~encoders.stroke_vit.model.StrokeViT`) from a HuggingFace ViT checkpoint.

As the reference: the ViT's encoder layers, final LayerNorm and CLS token are copied; patch and
position embeddings and the pooler have no counterpart and are dropped.
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmark.errors import BenchError
from encoders.stroke_vit.hub import hub_error, require_hub_id

#: (ViTConfig attribute, encoder config key) pairs that must agree.
_SIZES = (("hidden_size", "hidden_size"), ("num_hidden_layers", "num_layers"),
          ("num_attention_heads", "num_heads"), ("intermediate_size", "mlp_size"))


def init_from_backbone(module: torch.nn.Module, source: str) -> None:
    """Copy layers, final LayerNorm and CLS token of the ViT at ``source`` (a local folder written
    by ``save_pretrained`` or a hub id such as ``google/vit-base-patch16-224``) into ``module``, a
    stroke ViT: its ``vit_config`` (sizes, activation, LayerNorm epsilon) must match the backbone's.
    (This module reads the model only through that interface, so that the model can import it.)"""
    vit = _load_vit(source)
    cfg = vit.config
    ours = module.vit_config
    wrong = [f"{key}={getattr(cfg, attr)} (this encoder has {getattr(ours, attr)})"
             for attr, key in _SIZES if getattr(cfg, attr) != getattr(ours, attr)]
    if wrong:
        raise BenchError(f"backbone {source!r} does not fit: {', '.join(wrong)}; set the encoder's sizes "
                         f"to the backbone's (e.g. --set num_layers=...) or pick another backbone")
    if cfg.hidden_act != ours.hidden_act or abs(cfg.layer_norm_eps - ours.layer_norm_eps) > 1e-15:
        raise BenchError(f"backbone {source!r} uses hidden_act={cfg.hidden_act!r}, layer_norm_eps="
                         f"{cfg.layer_norm_eps}; stroke_vit supports only {ours.hidden_act!r} and {ours.layer_norm_eps}")
    with torch.no_grad():
        module.layers.load_state_dict(vit.layers.state_dict())
        module.layernorm.load_state_dict(vit.layernorm.state_dict())
        module.cls_token.copy_(vit.embeddings.cls_token)


def _load_vit(source: str):
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # no load report about the (unused) pooler, no progress bar
    hf_logging.disable_progress_bar()
    try:
        return _from_pretrained(source)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(source: str):
    from transformers import ViTModel

    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BenchError(f"backbone folder {path} has no config.json; write it with "
                             f"ViTModel.save_pretrained(folder)")
        return ViTModel.from_pretrained(str(path), add_pooling_layer=False)
    require_hub_id(source, f"backbone {source!r}: no such folder")
    try:
        return ViTModel.from_pretrained(source, add_pooling_layer=False)
    except OSError as exc:
        raise hub_error(f"backbone {source!r}", exc, f"ViTModel.from_pretrained({source!r}).save_pretrained(FOLDER)",
                        "pass --set backbone=/path/to/FOLDER") from None
