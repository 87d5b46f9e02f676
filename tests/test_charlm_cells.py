"""The hand-written pieces of project 3 against PyTorch: the RNN and LSTM cells against torch.nn.RNNCell /
LSTMCell (and a whole CharRNN stepped through them against torch.nn.LSTM), clipping against
torch.nn.utils.clip_grad_norm_, one training step against the same step written with torch's own pieces."""

import math

import pytest
import torch

from llmlab.charlm.cells import CellRNN, lstm_cell, rnn_cell
from llmlab.charlm.models import CharRNN
from llmlab.charlm.train_step import clip_grad_norm_, train_step
from llmlab.training import TrainConfig


def test_rnn_cell_equals_torch():
    torch.manual_seed(0)
    ref = torch.nn.RNNCell(5, 7).double()
    x, h = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 7, dtype=torch.float64)
    got = rnn_cell(x, h, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    torch.testing.assert_close(got, ref(x, h), rtol=0, atol=1e-12)


def test_lstm_cell_equals_torch_gate_for_gate():
    torch.manual_seed(1)
    ref = torch.nn.LSTMCell(5, 7).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    h, c = torch.randn(3, 7, dtype=torch.float64), torch.randn(3, 7, dtype=torch.float64)
    got_h, got_c = lstm_cell(x, h, c, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    want_h, want_c = ref(x, (h, c))
    torch.testing.assert_close(got_h, want_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(got_c, want_c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_a_char_rnn_stepped_through_the_cells_equals_torchs_fused_layers(kind):
    torch.manual_seed(2)
    model = CharRNN(kind, vocab_size=11, n_embd=6, hidden=8, n_layer=2).double()
    ids = torch.randint(0, 11, (2, 9))
    want, want_state = model(ids)
    first, state = CellRNN(model)(ids[:, :4])                       # and carried across two calls
    second, state = CellRNN(model)(ids[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), want, rtol=0, atol=1e-10)
    for got, expected in zip(state if kind == "lstm" else [state],
                             want_state if kind == "lstm" else [want_state],
                             strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def _params_with_grads(seed: int, scale: float):
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    params = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64) * scale
    return params


@pytest.mark.parametrize(("scale", "max_norm"), [(1.0, 0.5), (0.01, 1.0), (3.0, math.inf)])
def test_clip_grad_norm_equals_torch(scale, max_norm):
    mine, theirs = _params_with_grads(3, scale), _params_with_grads(3, scale)
    norm = clip_grad_norm_(iter(mine), max_norm)                    # a generator, as model.parameters() is
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    torch.testing.assert_close(norm, expected, rtol=0, atol=1e-12)
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-12)


def test_train_step_equals_torchs_clip_and_a_lambda_lr_schedule():
    cfg = TrainConfig(lr=3e-2, min_lr=3e-3, warmup_steps=2, max_steps=5, grad_clip=0.05, weight_decay=0.1)
    torch.manual_seed(4)
    mine = CharRNN("lstm", 13, 6, 10, 1).double()
    ref = CharRNN("lstm", 13, 6, 10, 1).double()
    ref.load_state_dict(mine.state_dict())
    opt = torch.optim.AdamW(mine.parameters(), lr=cfg.lr, weight_decay=0.1)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=cfg.lr, weight_decay=0.1)

    def schedule(s):   # warmup (s+1)/(w+1), then cosine to min_lr over the remaining steps
        if s < cfg.warmup_steps:
            return (s + 1) / (cfg.warmup_steps + 1)
        r = (s - cfg.warmup_steps) / (cfg.max_steps - cfg.warmup_steps)
        return (cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * r))) / cfg.lr

    sched = torch.optim.lr_scheduler.LambdaLR(ref_opt, schedule)
    g = torch.Generator().manual_seed(5)
    clipped = 0
    for step in range(cfg.max_steps):
        x, y = torch.randint(0, 13, (3, 7), generator=g), torch.randint(0, 13, (3, 7), generator=g)
        loss, norm, lr = train_step(mine, opt, x, y, step, cfg)
        ref_lr = ref_opt.param_groups[0]["lr"]
        ref_loss = torch.nn.functional.cross_entropy(ref(x)[0].reshape(-1, 13).float(), y.reshape(-1))
        ref_loss.backward()
        ref_norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), cfg.grad_clip)
        ref_opt.step()
        ref_opt.zero_grad()
        sched.step()
        clipped += ref_norm > cfg.grad_clip
        assert lr == pytest.approx(ref_lr, rel=1e-12) and loss == pytest.approx(ref_loss.item(), rel=1e-12)
        assert norm == pytest.approx(float(ref_norm), rel=1e-12)
        for a, b in zip(mine.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        assert all(p.grad is None for p in mine.parameters())
    assert clipped >= 2          # the clipping really acted
