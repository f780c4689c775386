"""The stroke-aware ViT as a torch module: one token per stroke, ViT layers from ``transformers``.

Token of stroke ``i`` = shape (2-layer bidirectional LSTM over the stroke's points, outputs summed
over its real points) + ``Linear(2, H)`` of its start point + ``Embedding(max_strokes, H)`` of its
drawing order. A CLS token (no location or order term) is prepended; ViT layers, a final LayerNorm
and a linear head on the CLS output give the logits.

Two token layouts:

- default: tokens only for the batch's strokes (``S`` = the batch's longest sketch) and an
  attention mask over padded strokes, so a sketch's logits do not depend on what it is batched with;
- ``reference_compat``: the published implementation's numerics: always ``max_strokes`` stroke
  tokens and no attention mask. A padded token there holds the order embedding of its slot plus the
  location bias (``Linear`` of a zero location) and a zero shape: the reference runs its LSTM only on
  real strokes (packed) and scatters the results into a zero tensor, so an empty slot's shape term is
  exactly zero (not the LSTM's output on zero input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import ViTConfig
from transformers.models.vit.modeling_vit import ViTLayer

from benchmark.batch import StrokeBatch, reversal_index
from benchmark.errors import BenchError
from benchmark.model import EncoderModule
from encoders.stroke_vit.backbone import init_from_backbone
from encoders.stroke_vit.packed import FusedLayer, PackedLayout, packed_layers

#: ``transformers.ViTConfig`` defaults the reference inherited from its pretrained backbones.
LAYER_NORM_EPS = 1e-12
HIDDEN_ACT = "gelu"
#: Scaled-dot-product attention: supports the additive padding mask and gradients w.r.t. inputs.
ATTENTION = "sdpa"
INIT_STD = 0.02
#: Padding overhead allowed when grouping strokes of similar lengths for the shape LSTM.
BUCKET_WASTE = 0.15

#: Keys of :func:`build_stroke_vit`'s config that shape the module (``backbone`` only seeds weights).
ARCH_KEYS = ("hidden_size", "num_layers", "num_heads", "mlp_size", "dropout", "attention_dropout",
             "max_strokes", "reference_compat", "use_location", "use_order")


@dataclass
class PreparedStrokes:
    """Location-independent part of a batch's tokens (see :meth:`StrokeViT.prepare_sli`).

    ``tokens``: ``(B, T, H)`` shape + order terms of the ``T`` stroke tokens; ``attention_mask``:
    additive ``(B, 1, 1, 1 + T)`` mask (``None`` when nothing is padded or in compat mode).
    """

    tokens: torch.Tensor
    attention_mask: torch.Tensor | None


@dataclass
class PackedStrokes:
    """Location-independent state of the packed SLI path (see :mod:`encoders.stroke_vit.packed`):
    ``tokens`` ``(R, H)``: the chunked token matrix without the location term (CLS token; shape +
    order of each stroke), its ``layout``, and the frozen layers with fused query/key/value weights."""

    tokens: torch.Tensor
    layout: PackedLayout
    layers: list[FusedLayer]


class StrokeViT(EncoderModule):
    """SketchXAI's stroke-aware ViT classifier over a :class:`~benchmark.batch.StrokeBatch`."""

    def __init__(self, num_classes: int, *, hidden_size: int = 192, num_layers: int = 12, num_heads: int = 3,
                 mlp_size: int = 768, dropout: float = 0.1, attention_dropout: float = 0.1,
                 max_strokes: int = 196, reference_compat: bool = False, use_location: bool = True,
                 use_order: bool = True):
        super().__init__(num_classes)
        if hidden_size % 2 or hidden_size % num_heads:
            raise BenchError(f"stroke_vit: hidden_size={hidden_size} must be even and divisible by "
                             f"num_heads={num_heads}")
        self.hidden_size = hidden_size
        self.max_strokes = int(max_strokes)
        self.reference_compat = bool(reference_compat)
        self.vit_config = ViTConfig(
            hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
            intermediate_size=mlp_size, hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=attention_dropout,
            layer_norm_eps=LAYER_NORM_EPS, hidden_act=HIDDEN_ACT, qkv_bias=True, attn_implementation=ATTENTION)
        self.shape = nn.LSTM(4, hidden_size // 2, num_layers=2, batch_first=True, bidirectional=True)
        self.location = nn.Linear(2, hidden_size) if use_location else None
        self.order = nn.Embedding(self.max_strokes, hidden_size) if use_order else None
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList([ViTLayer(self.vit_config) for _ in range(num_layers)])
        self.layernorm = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(hidden_size, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """As the reference's ``ViTPreTrainedModel._init_weights``: linear layers and the CLS token
        truncated-normal(0.02), LayerNorms (1, 0); the LSTM and order embedding keep torch's init."""
        nn.init.trunc_normal_(self.cls_token, std=INIT_STD)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=INIT_STD)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    # -- tokens ---------------------------------------------------------------------------------
    def stroke_shapes(self, batch: StrokeBatch) -> torch.Tensor:
        """``(B, S, H)`` shape embeddings: the LSTM runs on the real strokes only, each one's outputs
        summed over its real points; padded strokes get zeros (see :func:`bidirectional_lstm_sums`)."""
        B, S = batch.stroke_mask.shape
        strokes = batch.offsets[batch.stroke_mask]  # (N, P, 4)
        lengths = batch.point_mask[batch.stroke_mask].sum(1).cpu()
        if len(lengths) and int(lengths.min()) < 1:
            raise BenchError("stroke_vit: a stroke marked real in stroke_mask has no points; build batches "
                             "with benchmark.batch.collate")
        shapes = strokes.new_zeros(B, S, self.hidden_size)
        if not len(lengths):  # only empty sketches (every stroke removed): no shape term
            return shapes
        summed = bidirectional_lstm_sums(self.shape, strokes, lengths)
        return shapes.index_put((batch.stroke_mask,), summed)

    def _check_strokes(self, batch: StrokeBatch) -> None:
        S = batch.stroke_mask.shape[1]
        if S > self.max_strokes:
            raise BenchError(f"stroke_vit: batch has sketches with {S} strokes but the model has "
                             f"max_strokes={self.max_strokes}; collate with max_strokes={self.max_strokes}")

    def _prepare(self, batch: StrokeBatch) -> PreparedStrokes:
        self._check_strokes(batch)
        B, S = batch.stroke_mask.shape
        T = self.max_strokes if self.reference_compat else S
        tokens = self.stroke_shapes(batch)
        if T > S:
            tokens = nn.functional.pad(tokens, (0, 0, 0, T - S))
        if self.order is not None:
            slot = torch.arange(T, device=tokens.device)
            # real strokes use their drawing order; padded slots their position (as the reference)
            order = slot.expand(B, T).clone()
            order[:, :S] = torch.where(batch.stroke_mask, batch.order, slot[:S])
            tokens = tokens + self.order(order)
        mask = None
        if not self.reference_compat and not bool(batch.stroke_mask.all()):
            keep = torch.cat([batch.stroke_mask.new_ones(B, 1), batch.stroke_mask], dim=1)
            mask = torch.zeros(B, 1, 1, 1 + S, dtype=tokens.dtype, device=tokens.device)
            mask = mask.masked_fill(~keep[:, None, None, :], torch.finfo(tokens.dtype).min)
        return PreparedStrokes(tokens, mask)

    def _classify(self, prepared: PreparedStrokes, locations: torch.Tensor) -> torch.Tensor:
        tokens = prepared.tokens
        B, T, _ = tokens.shape
        if self.location is not None:
            if locations.shape[1] < T:  # compat: padded slots have location (0, 0)
                locations = nn.functional.pad(locations, (0, 0, 0, T - locations.shape[1]))
            tokens = tokens + self.location(locations)
        hidden = torch.cat([self.cls_token.expand(B, -1, -1), tokens], dim=1)
        hidden = self.dropout(hidden)
        for layer in self.layers:
            hidden = layer(hidden, prepared.attention_mask)
        return self.head(self.layernorm(hidden[:, 0]))

    def attention_probabilities(self, batch: StrokeBatch) -> list[torch.Tensor]:
        """Per layer, the ``(B, heads, T, T)`` attention probabilities of :meth:`forward` on ``batch``
        (token 0: CLS, token ``1 + s``: stroke ``s``; padded strokes get none outside compat mode),
        from an eager re-computation of each layer with the same weights (the ``attention``
        capability; dropout as in the module's mode)."""
        return self._eager_layers(batch)[1]

    def _eager_layers(self, batch: StrokeBatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The last layer's hidden states ``(B, 1 + T, H)`` and every layer's attention probabilities."""
        prepared = self._prepare(batch)
        tokens = prepared.tokens
        B, T, _ = tokens.shape
        if self.location is not None:
            locations = batch.locations
            if locations.shape[1] < T:
                locations = nn.functional.pad(locations, (0, 0, 0, T - locations.shape[1]))
            tokens = tokens + self.location(locations)
        hidden = self.dropout(torch.cat([self.cls_token.expand(B, -1, -1), tokens], dim=1))
        maps = []
        for layer in self.layers:
            attention = layer.attention
            x = layer.layernorm_before(hidden)
            heads = (B, 1 + T, attention.num_attention_heads, attention.head_dim)
            q, k, v = (proj(x).view(heads).transpose(1, 2)
                       for proj in (attention.q_proj, attention.k_proj, attention.v_proj))
            scores = q @ k.transpose(-1, -2) * attention.scaling
            if prepared.attention_mask is not None:
                scores = scores + prepared.attention_mask
            probs = scores.softmax(-1)
            maps.append(probs)
            mixed = nn.functional.dropout(probs, attention.attention_dropout, self.training) @ v
            hidden = hidden + layer.dropout(attention.o_proj(mixed.transpose(1, 2).reshape(B, 1 + T, -1)))
            hidden = hidden + layer.dropout(layer.mlp(layer.layernorm_after(hidden)))
        return hidden, maps

    @property
    def packs_strokes(self) -> bool:
        """:meth:`forward_sli` packs strokes itself in eval mode (outside compat mode)."""
        return not self.training and not self.reference_compat

    # -- EncoderModule API --------------------------------------------------------------------------
    def forward(self, batch: StrokeBatch) -> torch.Tensor:
        return self._classify(self._prepare(batch), batch.locations)

    def prepare_sli(self, batch: StrokeBatch) -> PreparedStrokes | PackedStrokes:
        """Shape and order terms computed once (detached: SLI differentiates w.r.t. locations only);
        in eval mode (outside compat mode) laid out for :func:`~encoders.stroke_vit.packed.packed_layers`."""
        with torch.no_grad():
            prepared = self._prepare(batch)
            if not self.packs_strokes:
                return prepared
            tokens = prepared.tokens
            layout = PackedLayout.of(batch.stroke_mask, tokens.dtype)
            with_cls = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)
            return PackedStrokes(layout.pack(with_cls), layout, [FusedLayer.of(layer) for layer in self.layers])

    def forward_sli(self, prepared: PreparedStrokes | PackedStrokes, locations: torch.Tensor) -> torch.Tensor:
        """Logits for new stroke start points ``(B, S, 2)``: only the location term and the layers run."""
        if isinstance(prepared, PreparedStrokes):
            return self._classify(prepared, locations)
        layout = prepared.layout
        hidden = prepared.tokens
        if self.location is not None:  # only this term changes from step to step
            with_cls = nn.functional.pad(locations, (0, 0, 1, 0))  # the CLS slot: no location term
            hidden = hidden + self.location(layout.pack(with_cls)) * layout.strokes
        return self.head(self.layernorm(packed_layers(prepared.layers, hidden, layout)))


def length_buckets(lengths: torch.Tensor, waste: float = BUCKET_WASTE) -> list[torch.Tensor]:
    """Indices of sequences grouped by length (sorted), each group padded to its longest member
    costing at most ``1 + waste`` times its real points."""
    order = torch.argsort(lengths, stable=True)
    sizes = lengths[order].tolist()
    buckets, start, real = [], 0, 0
    for i, size in enumerate(sizes):
        if i > start and size * (i + 1 - start) > (1 + waste) * (real + size):
            buckets.append(order[start:i])
            start, real = i, 0
        real += size
    buckets.append(order[start:])
    return buckets


def bidirectional_lstm_sums(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(N, 2h)``: per sequence of ``x`` ``(N, P, in)`` (right-padded, ``lengths`` real steps), the sum
    over its real steps of the outputs of ``lstm`` (bidirectional, batch_first, no dropout), as if each
    sequence ran alone.

    Faster on CPU than a packed sequence (whose backward pass is dominated by zero-fills): sequences
    are grouped by length (:func:`length_buckets`) and each direction runs on padded tensors; the
    reverse direction reads each sequence reversed within its length, so padding never reaches real
    steps. Padded steps' outputs are masked out of the sum.
    """
    hidden = lstm.hidden_size
    sums, rows = [], []
    for idx in length_buckets(lengths):
        lens = lengths[idx].to(x.device)
        steps = torch.arange(int(lens.max()), device=x.device)
        valid = (steps < lens[:, None]).unsqueeze(-1)
        rev = reversal_index(lens, len(steps)).unsqueeze(-1)
        fwd_in = x[idx.to(x.device), : len(steps)]
        rev_in = fwd_in.gather(1, rev.expand(-1, -1, fwd_in.shape[-1]))
        for layer in range(lstm.num_layers):
            fwd = _lstm_direction(lstm, fwd_in, layer, "")
            bwd = _lstm_direction(lstm, rev_in, layer, "_reverse")  # in reversed time
            if layer + 1 < lstm.num_layers:
                fwd_in, rev_in = (torch.cat([fwd, bwd.gather(1, rev.expand(-1, -1, hidden))], -1),
                                  torch.cat([fwd.gather(1, rev.expand(-1, -1, hidden)), bwd], -1))
        # reversal maps real steps onto real steps, so the reverse outputs sum without un-reversing
        sums.append(torch.cat([(fwd * valid).sum(1), (bwd * valid).sum(1)], -1))
        rows.append(idx)
    out = torch.cat(sums)
    return out.new_zeros(out.shape).index_copy(0, torch.cat(rows).to(x.device), out)


def _lstm_direction(lstm: nn.LSTM, x: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
    """One layer, one direction of ``lstm`` over ``x`` ``(N, T, in)`` from a zero state."""
    weights = [getattr(lstm, f"{name}_l{layer}{suffix}")
               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    h0 = x.new_zeros(1, x.shape[0], lstm.hidden_size)
    # args: input, (h0, c0), weights, has_biases, num_layers, dropout, train, bidirectional, batch_first
    return torch.lstm(x, (h0, h0), weights, True, 1, 0.0, False, False, True)[0]


def build_stroke_vit(num_classes: int, config: dict[str, Any]) -> StrokeViT:
    """A fresh :class:`StrokeViT` from a full encoder config; ``config["backbone"]`` (hub id or
    local folder of a HuggingFace ViT) seeds its layers, final LayerNorm and CLS token;
    ``config["location_init_std"]`` (a number, or ``None`` for the reference's init) the location
    embedding's weights (see :class:`encoders.stroke_vit.StrokeViTEncoder`)."""
    module = StrokeViT(num_classes, **{k: config[k] for k in ARCH_KEYS})
    if module.location is not None and config.get("location_init_std") is not None:
        nn.init.normal_(module.location.weight, std=float(config["location_init_std"]))
    if config.get("backbone"):
        init_from_backbone(module, str(config["backbone"]))
    return module
