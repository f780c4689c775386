"""The stroke ViT's layers on packed tokens: the fast path of stroke location inversion.

The batch's sketches are sorted by stroke count and split into chunks of similar counts
(:func:`benchmark.batch.padding_chunks`); each chunk is padded to its own longest sketch and the
chunks are stacked into one ``(R, H)`` token matrix. Linear layers, LayerNorms and the MLP run once
on that matrix (large matrix products, almost no padding, however unequal the stroke counts); only
attention runs per chunk, on a view of its rows, with an additive mask where the chunk has padding.
No indexing happens inside the layers: one gather builds the matrix, one picks the CLS outputs.
The last layer computes queries, the output projection and the MLP for the CLS tokens only, since
the head reads nothing else. Same numerics as the padded path within float tolerance; evaluation
mode only (no dropout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from benchmark.batch import padding_chunks

#: Fixed cost of one more chunk (its attention calls), in padded tokens of linear-layer work.
CHUNK_OVERHEAD_TOKENS = 12


@dataclass(frozen=True)
class Chunk:
    """``size`` sketches of ``size * tokens`` consecutive rows (the chunks follow each other in the
    matrix); ``mask``: additive ``(size, 1, 1, tokens)`` key mask, ``None`` when none of them is padded."""

    size: int
    tokens: int
    mask: torch.Tensor | None


@dataclass
class PackedLayout:
    """Where each token of a ``(B, 1 + S)`` batch (CLS first) sits in the chunked matrix.

    ``gather`` ``(R,)`` indexes the flat ``(B * (1 + S) + 1)`` tokens (the last one a zero row, for
    padding); ``strokes`` ``(R, 1)``: 1 on the rows of real strokes, 0 on CLS and padding rows;
    ``cls_rows`` ``(B,)``: the CLS rows in chunk order; ``unsort`` ``(B,)``: the permutation that puts
    chunk order back into batch order.
    """

    gather: torch.Tensor
    strokes: torch.Tensor
    cls_rows: torch.Tensor
    unsort: torch.Tensor
    chunks: list[Chunk]

    @classmethod
    def of(cls, stroke_mask: torch.Tensor, dtype: torch.dtype) -> "PackedLayout":
        """The layout of a batch's ``(B, S)`` real strokes, chunked by :func:`padding_chunks` with
        :data:`CHUNK_OVERHEAD_TOKENS` per chunk."""
        mask = stroke_mask.cpu().numpy()
        B, S = mask.shape
        counts = mask.sum(1)
        order = np.argsort(counts, kind="stable")
        pad = B * (1 + S)
        gather, cls_rows, chunks, start = [], np.empty(B, dtype=np.int64), [], 0
        for part in padding_chunks(counts[order], CHUNK_OVERHEAD_TOKENS):
            rows = order[part]
            T = 1 + int(counts[rows].max())
            block = np.full((len(rows), T), pad, dtype=np.int64)
            for i, b in enumerate(rows):
                real = 1 + np.flatnonzero(mask[b])
                block[i, 0] = b * (1 + S)
                block[i, 1:1 + len(real)] = b * (1 + S) + real
            cls_rows[rows] = start + T * np.arange(len(rows))
            padded = block == pad
            key_mask = None
            if padded.any():
                key_mask = torch.zeros(len(rows), 1, 1, T, dtype=dtype)
                key_mask = key_mask.masked_fill(torch.from_numpy(padded)[:, None, None, :], torch.finfo(dtype).min)
                key_mask = key_mask.to(stroke_mask.device)
            chunks.append(Chunk(len(rows), T, key_mask))
            gather.append(block.reshape(-1))
            start += len(rows) * T
        gather = np.concatenate(gather)
        strokes = (gather != pad) & (gather % (1 + S) != 0)
        device = stroke_mask.device
        return cls(torch.from_numpy(gather).to(device), torch.from_numpy(strokes[:, None]).to(device, dtype),
                   torch.from_numpy(cls_rows[order]).to(device), torch.from_numpy(np.argsort(order)).to(device),
                   chunks)

    def pack(self, tokens: torch.Tensor) -> torch.Tensor:
        """The ``(R, H)`` chunked matrix of ``tokens`` ``(B, 1 + S, H)``."""
        flat = tokens.reshape(-1, tokens.shape[-1])
        return torch.cat([flat, flat.new_zeros(1, flat.shape[1])])[self.gather]


@dataclass
class FusedLayer:
    """One frozen ``ViTLayer``'s weights, query/key/value fused into one matrix, the queries'
    part pre-multiplied by the attention scale ``head_dim ** -0.5``."""

    ln1: nn.LayerNorm
    qkv_weight: torch.Tensor
    qkv_bias: torch.Tensor
    out: nn.Linear
    ln2: nn.LayerNorm
    fc1: nn.Linear
    fc2: nn.Linear
    act: nn.Module
    heads: int

    @classmethod
    def of(cls, layer: nn.Module) -> "FusedLayer":
        attn = layer.attention
        projections = (attn.q_proj, attn.k_proj, attn.v_proj)
        scale = torch.ones(3, attn.q_proj.out_features, device=attn.q_proj.weight.device)
        scale[0] = attn.scaling
        weight = torch.cat([p.weight for p in projections]).detach() * scale.view(-1, 1)
        bias = torch.cat([p.bias for p in projections]).detach() * scale.view(-1)
        return cls(layer.layernorm_before, weight, bias, attn.o_proj, layer.layernorm_after,
                   layer.mlp.fc1, layer.mlp.fc2, layer.mlp.activation_fn, attn.num_attention_heads)


def packed_layers(layers: list[FusedLayer], x: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """``(B, H)`` CLS outputs, in batch order, of ``layers`` run on the chunked matrix ``x`` ``(R, H)``."""
    sizes = [c.size * c.tokens for c in layout.chunks]  # the chunks' rows, consecutive
    for i, layer in enumerate(layers):
        qkv = nn.functional.linear(layer.ln1(x), layer.qkv_weight, layer.qkv_bias)
        # one split, not a slice per chunk: its backward is one cat, where each slice's backward
        # zero-fills a gradient of the whole matrix and adds it up (a fifth of a step's non-matmul time)
        blocks = zip(qkv.split(sizes), layout.chunks)
        if i + 1 < len(layers):
            x = x + layer.out(torch.cat([_attention(b, c, layer.heads, cls_only=False) for b, c in blocks]))
        else:  # only the CLS queries matter from here on
            x = x[layout.cls_rows] + layer.out(torch.cat([_attention(b, c, layer.heads, cls_only=True)
                                                     for b, c in blocks]))
        x = x + layer.fc2(layer.act(layer.fc1(layer.ln2(x))))
    return x[layout.unsort]


def _attention(qkv: torch.Tensor, chunk: Chunk, heads: int, cls_only: bool) -> torch.Tensor:
    """Softmax attention within ``chunk`` given its rows ``qkv`` ``(size * tokens, 3H)``: its
    ``(size * tokens, H)`` outputs, or its CLS rows' ``(size, H)`` when ``cls_only``. One fused
    ``scaled_dot_product_attention`` call on strided views of ``qkv`` in float32 (no copies of
    queries, keys and values; on CPU about a tenth faster per SLI step than two matmuls and a
    softmax); two matmuls and a softmax in bfloat16."""
    H = qkv.shape[1] // 3
    d = H // heads
    g, T = chunk.size, chunk.tokens
    block = qkv.view(g, T, 3, heads, d)
    q, k, v = block.permute(2, 0, 3, 1, 4).unbind(0)  # each (g, heads, T, d)
    if cls_only:
        q = q[:, :, :1]
    if qkv.dtype == torch.float32:  # queries come pre-scaled (see FusedLayer), hence scale=1
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=chunk.mask, scale=1.0)
    else:  # bfloat16 (task.precision): CPU flash attention is 1.5-2.5x slower than in float32 there,
        # where batched matmuls use the bf16 units (autocast keeps the softmax in float32)
        scores = torch.matmul(q, k.transpose(-1, -2))
        if chunk.mask is not None:
            scores = scores + chunk.mask
        out = torch.matmul(scores.softmax(-1), v)
    return out.transpose(1, 2).reshape(-1, H)  # (g * (T or 1), H)
