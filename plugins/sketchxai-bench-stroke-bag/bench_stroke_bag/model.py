"""The torch module of the ``stroke_bag`` encoder."""

import torch
from torch import nn

from benchmark.model import EncoderModule


class StrokeBagModule(EncoderModule):
    def __init__(self, num_classes: int, hidden: int = 128, dropout: float = 0.1):
        super().__init__(num_classes)
        self.point = nn.Sequential(nn.Linear(4, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.stroke = nn.Sequential(nn.Linear(hidden + 2, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def shapes(self, batch):
        """(B, S, hidden) stroke shape vectors: mean of the point MLP over real points."""
        mask = batch.point_mask.unsqueeze(-1).float()
        return (self.point(batch.offsets) * mask).sum(2) / mask.sum(2).clamp(min=1)

    def prepare_sli(self, batch):
        return batch, self.shapes(batch)  # shapes do not depend on locations: computed once

    def forward_sli(self, prepared, locations):
        batch, shapes = prepared
        tokens = self.stroke(torch.cat([shapes, locations], -1))
        tokens = tokens.masked_fill(~batch.stroke_mask.unsqueeze(-1), float("-inf"))
        return self.head(tokens.max(1).values)

    def forward(self, batch):
        return self.forward_sli(self.prepare_sli(batch), batch.locations)
