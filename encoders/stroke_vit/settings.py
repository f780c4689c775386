"""The stroke-aware ViT's settings and their defaults (light module: no torch), shared by the
encoder classes (:mod:`encoders.stroke_vit`) and the published-checkpoint loader
(:mod:`encoders.stroke_vit.reference`), which fills what a checkpoint does not say from them."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "hidden_size": 192,
    "num_layers": 12,
    "num_heads": 3,
    "mlp_size": 768,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "max_strokes": 196,
    "reference_compat": False,
    "use_location": True,
    "use_order": True,
    "backbone": None,
    "location_init_std": 1.0,
}
