"""The recurrent cells written out: one step of a vanilla RNN and of an LSTM, in plain torch ops.

    h = rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh);   h, c = lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
    model = CellRNN(trained_char_rnn)        # the same model, stepped one cell call at a time
CharRNN trains with torch.nn.RNN/LSTM (one fused kernel over the sequence); these show what that kernel
computes, with torch's weight layout and gate order, so a CharRNN's weights drop in unchanged. Tests
check them against torch.nn.RNNCell/LSTMCell; `llmlab learn` grades a learner's cells the same way and
decodes a trained model through them. Not here: GRU, dropout between layers, projections (proj_size).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def rnn_cell(x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None) -> torch.Tensor:
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh);  x (B, E), h (B, H), W_ih (H, E), W_hh (H, H) -> (B, H)."""
    z = x @ weight_ih.T + h @ weight_hh.T                           # (B, H)
    if bias_ih is not None:
        z = z + bias_ih + bias_hh
    return torch.tanh(z)


def lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_ih: torch.Tensor,
              weight_hh: torch.Tensor, bias_ih: torch.Tensor | None = None,
              bias_hh: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step; the four gates are stacked in W's rows in torch's order i, f, g, o:

        i, f, g, o = split(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, H)       each (B, H)
        c' = σ(f) c + σ(i) tanh(g);    h' = σ(o) tanh(c')
    x (B, E), h and c (B, H), W_ih (4H, E), W_hh (4H, H) -> (h', c').
    """
    z = x @ weight_ih.T + h @ weight_hh.T                           # (B, 4H)
    if bias_ih is not None:
        z = z + bias_ih + bias_hh
    i, f, g, o = z.chunk(4, dim=-1)                                 # (B, H) each
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)     # forget part of the past, write the new
    return torch.sigmoid(o) * torch.tanh(c), c


class CellRNN(nn.Module):
    """A trained CharRNN (rnn or lstm) run one `rnn_cell` / `lstm_cell` call per layer and time step.

    forward(ids, state) -> (logits, state) with CharRNN's shapes (state (n_layer, B, H), an (h, c) pair
    for the LSTM), so the decoders step it like the original. The cell is looked up at each call, so a
    learner's cell patched into this module is the one that runs.
    """

    stateful = True

    def __init__(self, model: nn.Module):
        super().__init__()
        if model.kind not in ("rnn", "lstm"):
            raise ValueError(f"CellRNN runs rnn and lstm models, not {model.kind!r}")
        self.model, self.kind = model, model.kind

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        m = self.model
        x = m.embed(ids)                                            # (B, T, E)
        b, n = ids.shape[0], m.n_layer
        if state is None:
            zeros = x.new_zeros(n, b, m.hidden)
            state = (zeros, zeros.clone()) if self.kind == "lstm" else zeros
        hs = list(state[0] if self.kind == "lstm" else state)       # n_layer x (B, H)
        cs = list(state[1]) if self.kind == "lstm" else None
        outputs = []
        for t in range(ids.shape[1]):
            inp = x[:, t]
            for layer in range(n):
                w = [getattr(m.rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                     "bias_hh")]
                if self.kind == "lstm":
                    hs[layer], cs[layer] = lstm_cell(inp, hs[layer], cs[layer], *w)
                else:
                    hs[layer] = rnn_cell(inp, hs[layer], *w)
                inp = hs[layer]
            outputs.append(inp)
        h = torch.stack(outputs, dim=1)                             # (B, T, H)
        new_state = (torch.stack(hs), torch.stack(cs)) if self.kind == "lstm" else torch.stack(hs)
        return m.head(h), new_state                                 # (B, T, V)
