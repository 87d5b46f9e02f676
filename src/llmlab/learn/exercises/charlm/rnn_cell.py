"""Exercise `rnn_cell`: one step of a vanilla (Elman) RNN, as torch.nn.RNNCell computes it.

Check it with `llmlab learn check charlm rnn_cell` (against torch.nn.RNNCell with the same weights).
The weights have torch's layout, so a trained torch.nn.RNN's `weight_ih_l0`, ... drop in unchanged.
"""

from __future__ import annotations

import torch


def rnn_cell(x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None) -> torch.Tensor:
    """The next hidden state from this step's input and the previous hidden state:

        h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)          (no biases when bias_ih is None)

    Shapes: x (B, E), h (B, H), weight_ih (H, E), weight_hh (H, H), biases (H,) -> h' (B, H).
    Example: E = H = 1, W_ih = [[1.0]], W_hh = [[0.5]], no biases, x = [[2.0]], h = [[-2.0]]
             -> tanh(2.0 - 1.0) = tanh(1.0) = [[0.7616]]
    """
    raise NotImplementedError("rnn_cell")
