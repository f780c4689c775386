"""Sketch-a-Net-style CNN on sketches rendered by the differentiable rasteriser."""

from __future__ import annotations

import torch
from torch import nn

from encoders.baselines.rasterise import RasterClassifier


class RasterCNN(RasterClassifier):
    """Sketch-a-Net's layout scaled to a ``image_size`` input: a large first kernel (7x7, stride 2),
    a 5x5 layer, three 3x3 layers, max pooling after layers 1, 2 and 5, then "fully connected"
    layers as convolutions (one covering the whole final map, then 1x1) with dropout, ReLU
    throughout. The five convolutions have ``width x (1, 2, 4, 4, 4)`` channels, the FC layers
    ``fc_size``."""

    def __init__(self, num_classes: int, image_size: int, line_sigma: float, width: int,
                 fc_size: int, dropout: float):
        super().__init__(num_classes, image_size, line_sigma)
        c1, c2, c3, c4, c5 = (int(width) * k for k in (1, 2, 4, 4, 4))
        pool = dict(kernel_size=3, stride=2, padding=1)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 7, stride=2, padding=3), nn.ReLU(inplace=True), nn.MaxPool2d(**pool),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(**pool),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(**pool),
        )
        final = _pooled_size(int(image_size))
        self.head = nn.Sequential(
            nn.Conv2d(c5, fc_size, final), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(fc_size, fc_size, 1), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(fc_size, num_classes, 1), nn.Flatten(),
        )

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of rendered ``(B, 1, H, W)`` images."""
        return self.head(self.features(images))


def _pooled_size(size: int) -> int:
    """Spatial size after the stride-2 first layer and three stride-2 poolings."""
    for _ in range(4):
        size = (size - 1) // 2 + 1
    return size
