"""SketchXAI's stroke-aware ViT encoders (light: torch is imported only by ``build``).

The module code is in :mod:`encoders.stroke_vit.model`, loading of the published checkpoints in
:mod:`encoders.stroke_vit.reference`, initialisation from a HuggingFace ViT in
:mod:`encoders.stroke_vit.backbone`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from benchmark import ATTENTION, GRADIENTS, SLI, Encoder
from benchmark.config import check_number
from benchmark.errors import BenchError
from encoders.stroke_vit.settings import DEFAULTS


class StrokeViTEncoder(Encoder):
    """Stroke-aware ViT following SketchXAI (Qu et al., CVPR 2023) and its released code.

    Each stroke is one token: shape (2-layer bidirectional LSTM over ``(dx, dy, p_draw, p_end)``,
    hidden ``H/2`` per direction, outputs summed over the stroke's points) + location (``Linear(2, H)``
    of the start point) + drawing order (``Embedding(max_strokes, H)``); a CLS token, ViT encoder
    layers, final LayerNorm and a linear head on the CLS output.

    Differences from the published model, all on by default:

    - tokens only for the strokes in the batch and an attention mask over padded strokes (the
      reference always uses 196 tokens and attends to the padded ones, so its logits depend on
      padding); any batch size. ``reference_compat=True`` restores the reference's numerics;
    - the head has ``num_classes`` outputs, as the reference's ``Linear(H, n_classes)`` (the
      dataset's class count: 30 for the published QuickDraw30 models, 345 for the QuickDraw345 ones);
    - the location embedding starts from ``normal(0, location_init_std)`` (default 1, the scale of
      the order embedding) instead of the reference's truncated-normal(0.02) of every linear layer:
      at 0.02 the location term is ~50x smaller than the order term at the start, and AdamW needs
      thousands of steps to grow it, so on small data the classifier learns to ignore where the
      strokes are (demo, 30 epochs: 71% valid top-1 at 0.02, 96% at 1). ``location_init_std=null``
      restores the reference's initialisation; a checkpoint's weights are the same either way;
    - weights start from scratch unless ``backbone`` names a HuggingFace ViT (hub id or local
      folder); the reference always started from ``google/vit-base-patch16-224`` (Base) or
      ``WinKawaks/vit-tiny-patch16-224`` (Tiny), which needs the hub or a local copy.
    """

    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[str]] = frozenset({SLI, GRADIENTS, ATTENTION})
    #: Config keys that only choose initial weights: loading a checkpoint ignores them.
    init_only: ClassVar[frozenset[str]] = frozenset({"backbone", "location_init_std"})
    nullable: ClassVar[frozenset[str]] = frozenset({"location_init_std"})
    #: Far beyond any published ViT (Base: 768, 12 layers, 12 heads, MLP 3072), well short of absurd.
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "hidden_size": (1, 16384), "num_layers": (1, 1024), "num_heads": (1, 1024), "mlp_size": (1, 65536),
        "max_strokes": (1, 65536)}
    defaults: ClassVar[dict[str, Any]] = DEFAULTS

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        super().check_config(config)
        for key in ("dropout", "attention_dropout"):
            check_number(f"encoder.{key}", config.get(key, cls.defaults[key]), least=0, below=1)
        check_number("encoder.location_init_std", config.get("location_init_std", cls.defaults["location_init_std"]),
                     above=0, nullable=True, null_means="the reference's truncated-normal(0.02)")

    @classmethod
    def load_external(cls, source: str, num_classes: int):
        """A checkpoint of the published SketchXAI code (:mod:`encoders.stroke_vit.reference`): a
        ``.safetensors``/``.bin`` file, a folder in the hub layout (``config.json`` +
        ``pytorch_model.bin`` or ``model.safetensors``) or a hub id such as
        ``WinKawaks/SketchXAI-Base-QuickDraw30``. Built with the checkpoint's sizes and
        ``reference_compat=True`` (the numerics the weights were trained with)."""
        from encoders.stroke_vit.reference import from_reference

        ablation = {k: cls.defaults[k] for k in ("use_location", "use_order")}  # an ablation refuses these weights
        module = from_reference(source, num_classes=num_classes, config=ablation, check=cls.check_config)
        return module, {k: module.encoder_config[k] for k in cls.defaults}

    @classmethod
    def build(cls, num_classes: int, config: dict[str, Any]):
        config = cls.full_config(config)
        if SLI in cls.capabilities and not config["use_location"]:
            raise BenchError(f"encoder {cls.name!r} with use_location=false cannot do stroke location "
                             f"inversion; use encoder 'stroke_vit_tiny_no_location' instead")
        from encoders.stroke_vit.model import build_stroke_vit

        return build_stroke_vit(num_classes, config)


class StrokeViTTiny(StrokeViTEncoder):
    __doc__ = StrokeViTEncoder.__doc__
    name = "stroke_vit_tiny"
    description = ("SketchXAI stroke-aware ViT-Tiny (H=192, 12 layers, 3 heads): one token per stroke "
                   "(5.7M params at 345 classes)")


class StrokeViTBase(StrokeViTEncoder):
    __doc__ = StrokeViTEncoder.__doc__
    name = "stroke_vit_base"
    description = ("SketchXAI stroke-aware ViT-Base (H=768, 12 layers, 12 heads): one token per stroke "
                   "(90.2M params at 345 classes)")
    defaults = {**StrokeViTEncoder.defaults, "hidden_size": 768, "num_heads": 12, "mlp_size": 3072}


class StrokeViTTinyNoLocation(StrokeViTEncoder):
    """Ablation of ``stroke_vit_tiny`` without the location term: tokens are shape + order only.

    Its logits do not depend on stroke start locations, so it cannot do SLI (no ``sli`` capability).
    """

    name = "stroke_vit_tiny_no_location"
    description = "Ablation: stroke_vit_tiny without stroke location embeddings (no SLI)"
    capabilities = frozenset({GRADIENTS, ATTENTION})
    defaults = {**StrokeViTEncoder.defaults, "use_location": False}


class StrokeViTTinyNoOrder(StrokeViTEncoder):
    """Ablation of ``stroke_vit_tiny`` without the drawing-order term: tokens are shape + location."""

    name = "stroke_vit_tiny_no_order"
    description = "Ablation: stroke_vit_tiny without stroke order embeddings"
    defaults = {**StrokeViTEncoder.defaults, "use_order": False}


ENCODERS = (StrokeViTTiny, StrokeViTBase, StrokeViTTinyNoLocation, StrokeViTTinyNoOrder)
