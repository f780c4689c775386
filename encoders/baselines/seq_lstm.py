"""Bidirectional LSTM over the stroke-5 point sequence (sketch-rnn's encoder) with a classifier."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.batch import StrokeBatch, reversal_index
from benchmark.model import EncoderModule
from encoders.baselines.sequence import point_sequence


class SeqLSTM(EncoderModule):
    """Reads ``(dx, dy, p1, p2, p3)`` (moves scaled by ``input_scale``) forwards and backwards;
    the two final hidden states, concatenated, feed ``Linear(2 hidden, num_classes)``.

    The two directions are separate unidirectional LSTMs over padded sequences, the backward one
    reading each sequence reversed within its own length; each final state is the output at the
    sequence's last real step, so padding is never read. (On CPU this trains several times faster
    than ``nn.LSTM(bidirectional=True)`` on packed sequences and computes the same function.)
    """

    def __init__(self, num_classes: int, hidden_size: int, num_layers: int, dropout: float,
                 input_scale: float):
        super().__init__(num_classes)
        self.input_scale = float(input_scale)
        between = dropout if num_layers > 1 else 0.0
        self.forward_lstm = nn.LSTM(5, hidden_size, num_layers=num_layers, batch_first=True, dropout=between)
        self.backward_lstm = nn.LSTM(5, hidden_size, num_layers=num_layers, batch_first=True, dropout=between)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, batch: StrokeBatch) -> torch.Tensor:
        return self.forward_sli(batch, batch.locations)

    def forward_sli(self, prepared: StrokeBatch, locations: torch.Tensor) -> torch.Tensor:
        seq = point_sequence(prepared, locations)
        x = seq.stroke5
        x = torch.cat([x[..., :2] * self.input_scale, x[..., 2:]], dim=-1)
        B, L, _ = x.shape
        length = seq.lengths + 1  # with the end-of-sketch token
        x_rev = x.gather(1, reversal_index(length, L).unsqueeze(-1).expand_as(x))
        last = (length - 1).view(B, 1, 1)
        h_fwd = self.forward_lstm(x)[0]
        h_bwd = self.backward_lstm(x_rev)[0]
        final = torch.cat([h.gather(1, last.expand(B, 1, h.shape[-1])).squeeze(1) for h in (h_fwd, h_bwd)], dim=-1)
        return self.classifier(self.dropout(final))
