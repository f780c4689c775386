"""Transformer encoder over a sketch's points (Sketchformer-like) with a classifier."""

from __future__ import annotations

import math

import torch
from torch import nn

from benchmark.batch import StrokeBatch
from benchmark.model import EncoderModule
from encoders.baselines.sequence import point_sequence


class PointTransformer(EncoderModule):
    """Each point ``(x, y, dx, dy, p1, p2, p3)`` (moves scaled by ``input_scale``) goes
    through ``Linear(7, d_model)`` plus a sinusoidal encoding of its index in drawing order; a
    pre-norm Transformer encoder attends over real points only (a key padding mask); the outputs
    are mean-pooled over real points, layer-normalised and classified by ``Linear``."""

    def __init__(self, num_classes: int, d_model: int, num_layers: int, num_heads: int, ff_size: int,
                 dropout: float, input_scale: float):
        super().__init__(num_classes)
        self.input_scale = float(input_scale)
        self.embed = nn.Linear(7, d_model)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, ff_size, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        layer.self_attn.dropout = 0.0  # dropout on sublayer outputs only, not on attention weights
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, batch: StrokeBatch) -> torch.Tensor:
        return self.forward_sli(batch, batch.locations)

    def forward_sli(self, prepared: StrokeBatch, locations: torch.Tensor) -> torch.Tensor:
        seq = point_sequence(prepared, locations)
        N = seq.xy.shape[1]
        feats = torch.cat([seq.xy, seq.stroke5[:, :N, :2] * self.input_scale, seq.stroke5[:, :N, 2:]], dim=-1)
        x = self.dropout(self.embed(feats) + _sinusoid(N, self.embed.out_features, feats))
        x = self.encoder(x, src_key_padding_mask=~seq.mask)
        # an empty sketch (every stroke removed, benchmark.removal) attends to nothing: it pools to zero
        real = seq.mask.unsqueeze(-1)
        pooled = x.masked_fill(~real, 0).sum(1) / real.sum(1).clamp(min=1).to(x.dtype)
        return self.classifier(self.norm(pooled))


def _sinusoid(length: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """``(length, dim)`` sinusoidal position encoding (Vaswani et al.)."""
    pos = torch.arange(length, dtype=like.dtype, device=like.device).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=like.dtype, device=like.device) * (-math.log(10000.0) / dim))
    enc = torch.zeros(length, dim, dtype=like.dtype, device=like.device)
    enc[:, 0::2] = torch.sin(pos * freq)
    enc[:, 1::2] = torch.cos(pos * freq)
    return enc
