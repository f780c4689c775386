"""Baseline encoders of the SketchXAI comparison: raster CNN, raster ViT, sketch-rnn LSTM, point
Transformer. All support stroke location inversion: the raster ones render strokes with a
differentiable rasteriser (:mod:`encoders.baselines.rasterise`), the sequence ones rebuild the
point sequence from the stroke start locations.

Light module (no torch import): each class describes an encoder and builds it lazily.
"""

from __future__ import annotations

from typing import Any, ClassVar

from benchmark.contracts import GRADIENTS, SLI, Encoder
from benchmark.errors import BenchError


class _Baseline(Encoder):
    """Shared config checks (:meth:`Encoder.full_config`, ``num_classes``) and the ``sli`` and
    ``gradients`` capabilities."""

    capabilities: ClassVar[frozenset[str]] = frozenset({SLI, GRADIENTS})

    @classmethod
    def _config(cls, num_classes: int, config: dict[str, Any]) -> dict[str, Any]:
        if int(num_classes) < 1:
            raise BenchError(f"encoder {cls.name!r}: num_classes must be at least 1, got {num_classes}")
        return cls.full_config(config)

    @classmethod
    def _require(cls, ok: bool, message: str) -> None:
        if not ok:
            raise BenchError(f"encoder {cls.name!r}: {message}")


class RasterCNNEncoder(_Baseline):
    """Sketch-a-Net-style CNN on sketches rendered at 64x64 by a differentiable rasteriser.

    Follows Sketch-a-Net (Yu et al., BMVC 2015 / IJCV 2017): large first kernel, no local response
    normalisation, max pooling, fully connected layers as convolutions with dropout. Differs: one
    64x64 channel instead of 225x225 (and no stroke-order channels, multi-scale ensemble or
    augmentation), first kernel 7x7 stride 2 instead of 15x15 stride 3, narrower layers: 1.0M
    parameters (1.1M with 345 classes) instead of 8.5M, to train on CPU.
    """

    name = "raster_cnn"
    description = "Sketch-a-Net-style CNN on 64x64 differentiable renderings (1.0M/1.1M params at 30/345 classes)"
    version = "1"
    defaults: ClassVar[dict[str, Any]] = {
        "image_size": 64, "line_sigma": 1.0, "width": 32, "fc_size": 256,
        "dropout": 0.5,
    }
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "image_size": (16, 1024), "width": (1, 4096), "fc_size": (1, 65536)}

    @classmethod
    def build(cls, num_classes, config):
        cfg = cls._config(num_classes, config)
        cls._require(cfg["image_size"] % 8 == 0 and cfg["image_size"] >= 16,
                     f"image_size must be a multiple of 8 and at least 16, got {cfg['image_size']}")
        cls._require(cfg["width"] >= 1 and cfg["fc_size"] >= 1, "width and fc_size must be >= 1")
        from encoders.baselines.raster_cnn import RasterCNN

        return RasterCNN(num_classes, **cfg)


class RasterViTTinyEncoder(_Baseline):
    """ViT (Dosovitskiy et al., ICLR 2021; ``transformers.ViTModel``) on 64x64 differentiable renderings.

    Stands for the paper's "ViT" row (ViT-Base, 86.6M parameters).
    Differs: ViT-Tiny sizes (hidden 192, 12 layers, 3 heads, MLP 768), one 64x64 channel cut into
    8x8 patches (64 patches), trained from scratch (no pretrained weights reachable), 5.4M
    parameters. Slowest baseline on CPU; ``patch_size=16`` makes it about 4x faster.
    """

    name = "raster_vit_tiny"
    description = "ViT-Tiny (transformers ViTModel, from scratch) on 64x64 renderings, patch 8 (5.4M params)"
    version = "1"
    defaults: ClassVar[dict[str, Any]] = {
        "image_size": 64, "line_sigma": 1.0, "patch_size": 8, "hidden_size": 192, "num_layers": 12,
        "num_heads": 3, "mlp_size": 768, "dropout": 0.1,
    }
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "image_size": (8, 1024), "patch_size": (1, 1024), "hidden_size": (1, 16384), "num_layers": (1, 1024),
        "num_heads": (1, 1024), "mlp_size": (1, 65536)}

    @classmethod
    def build(cls, num_classes, config):
        cfg = cls._config(num_classes, config)
        cls._require(cfg["image_size"] % 8 == 0, f"image_size must be a multiple of 8, got {cfg['image_size']}")
        cls._require(cfg["image_size"] % cfg["patch_size"] == 0,
                     f"patch_size {cfg['patch_size']} must divide image_size {cfg['image_size']}")
        cls._require(cfg["hidden_size"] % cfg["num_heads"] == 0,
                     f"num_heads {cfg['num_heads']} must divide hidden_size {cfg['hidden_size']}")
        from encoders.baselines.raster_vit import RasterViT

        return RasterViT(num_classes, **cfg)


class SeqLSTMEncoder(_Baseline):
    """Bidirectional LSTM over the stroke-5 point sequence: sketch-rnn's encoder (Ha & Eck, ICLR 2018).

    Follows sketch-rnn: ``(dx, dy, p1, p2, p3)`` per point, one bidirectional LSTM layer of 256 units
    per direction, the final forward and backward states concatenated. Differs: a linear classifier
    on that state instead of the VAE's latent heads (no decoder, no KL term), plain LSTMs (no
    recurrent dropout), moves scaled by a constant (10) instead of by the dataset's standard
    deviation, each sequence closed by one end-of-sketch token (padding is never read); the pen
    moves come from stroke start locations, so SLI works on it.
    """

    name = "seq_lstm"
    description = "sketch-rnn's bidirectional LSTM encoder over stroke-5 points, linear head (0.55M/0.72M params)"
    version = "1"
    defaults: ClassVar[dict[str, Any]] = {"hidden_size": 256, "num_layers": 1, "dropout": 0.1, "input_scale": 10.0}
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {"hidden_size": (1, 16384),
                                                                      "num_layers": (1, 1024)}

    @classmethod
    def build(cls, num_classes, config):
        cfg = cls._config(num_classes, config)
        cls._require(cfg["hidden_size"] >= 1 and cfg["num_layers"] >= 1, "hidden_size and num_layers must be >= 1")
        from encoders.baselines.seq_lstm import SeqLSTM

        return SeqLSTM(num_classes, **cfg)


class PointTransformerEncoder(_Baseline):
    """Transformer encoder over a sketch's points, after Sketchformer (Ribeiro et al., CVPR 2020).

    Follows Sketchformer's continuous-input variant: stroke-5 points embedded linearly, sinusoidal
    position encodings, self-attention over the points with padding masked. Differs: Sketchformer's
    preferred input tokenises moves with a learned dictionary and it learns its embedding jointly
    with a reconstruction decoder; here each point also carries its absolute position (so stroke
    start locations enter directly), layers are pre-norm with GELU, the outputs are mean-pooled
    into a linear classifier, and there is no decoder; 4 layers of width 128, 0.8M parameters
    (the paper lists Sketchformer at 13.1M).
    """

    name = "point_transformer"
    description = "Sketchformer-like Transformer over points (stroke-5 + absolute xy) (0.80M/0.84M params)"
    version = "1"
    defaults: ClassVar[dict[str, Any]] = {
        "d_model": 128, "num_layers": 4, "num_heads": 8, "ff_size": 512, "dropout": 0.1, "input_scale": 10.0,
    }
    limits: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "d_model": (2, 16384), "num_layers": (1, 1024), "num_heads": (1, 1024), "ff_size": (1, 65536)}

    @classmethod
    def build(cls, num_classes, config):
        cfg = cls._config(num_classes, config)
        cls._require(cfg["d_model"] % 2 == 0 and cfg["d_model"] % cfg["num_heads"] == 0,
                     f"d_model {cfg['d_model']} must be even and divisible by num_heads {cfg['num_heads']}")
        from encoders.baselines.point_transformer import PointTransformer

        return PointTransformer(num_classes, **cfg)


ENCODERS = (RasterCNNEncoder, RasterViTTinyEncoder, SeqLSTMEncoder, PointTransformerEncoder)
