"""Patch ViT (``transformers.ViTModel``) on sketches rendered by the differentiable rasteriser."""

from __future__ import annotations

import torch
from torch import nn
from transformers import ViTConfig, ViTModel

from encoders.baselines.rasterise import RasterClassifier


class RasterViT(RasterClassifier):
    """A one-channel ``image_size`` rendering cut into ``patch_size`` patches, a randomly
    initialised ViT encoder (CLS token, learned position embeddings, final LayerNorm, no pooler)
    and ``Linear(hidden_size, num_classes)`` on the CLS output."""

    def __init__(self, num_classes: int, image_size: int, line_sigma: float, patch_size: int, hidden_size: int,
                 num_layers: int, num_heads: int, mlp_size: int, dropout: float):
        super().__init__(num_classes, image_size, line_sigma)
        config = ViTConfig(hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
                           intermediate_size=mlp_size, hidden_dropout_prob=dropout,
                           attention_probs_dropout_prob=dropout, image_size=image_size, patch_size=patch_size,
                           num_channels=1)
        self.vit = ViTModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of rendered ``(B, 1, H, W)`` images."""
        return self.classifier(self.vit(pixel_values=images).last_hidden_state[:, 0])
