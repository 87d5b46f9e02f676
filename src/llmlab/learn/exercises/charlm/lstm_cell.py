"""Exercise `lstm_cell`: one step of an LSTM, as torch.nn.LSTMCell computes it (gate order i, f, g, o).

Check it with `llmlab learn check charlm lstm_cell` (against torch.nn.LSTMCell with the same weights).
The weights have torch's layout: the four gates' rows are stacked in W_ih (4H, E) and W_hh (4H, H) in
the order input, forget, cell candidate, output, so a trained torch.nn.LSTM's weights drop in unchanged.
"""

from __future__ import annotations

import torch


def lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_ih: torch.Tensor,
              weight_hh: torch.Tensor, bias_ih: torch.Tensor | None = None,
              bias_hh: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The next (h, c) from this step's input and the previous (h, c):

        z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh                  (B, 4H); no biases when bias_ih is None
        i, f, g, o = z[:, :H], z[:, H:2H], z[:, 2H:3H], z[:, 3H:]
        c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)                       forget part of the old cell, write the new
        h' = σ(o) ⊙ tanh(c')                                 what the cell shows

    Shapes: x (B, E), h and c (B, H), weight_ih (4H, E), weight_hh (4H, H), biases (4H,) -> (h', c').
    Example: H = 1, z = [[0, 0, 0, 0]] (all gates half open, σ(0) = 0.5, tanh(0) = 0), c = [[2.0]]
             -> c' = 0.5 · 2.0 + 0.5 · 0 = [[1.0]],  h' = 0.5 · tanh(1.0) = [[0.3808]]
    """
    raise NotImplementedError("lstm_cell")
