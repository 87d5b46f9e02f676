"""`llmlab learn run charlm --mine`: a small character LSTM trained with the learner's step, then decoded
with their LSTM cell, samplers and beam search, beside the same run on llmlab's pieces.

Both runs train on the first 60,000 characters of python-docs with the same seed: the reference with
llmlab's `train_step` (schedule + clipping), the learner's with theirs. Each model is then decoded
through `CellRNN` (one cell call per step) with five strategies — greedy, temperature, top-k, top-p,
beam — using the learner's passing pieces patched into llmlab's decoders. With llmlab's code in every
file the two runs agree to the last character. `rnn_cell` is graded but not run: the model is an LSTM.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from unittest import mock

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "lstm_cell": [("llmlab.charlm.cells", "lstm_cell", "lstm_cell")],
    "temperature": [("llmlab.generation.processors", "apply_temperature", "apply_temperature")],
    "top_k": [("llmlab.generation.processors", "top_k_filter", "top_k_filter")],
    "top_p": [("llmlab.generation.processors", "top_p_filter", "top_p_filter")],
    "beam": [("llmlab.charlm.decoding", "beam_search", "beam_search")],
}
STRATEGIES = ("greedy", "sample", "top-k", "top-p", "beam")
PROMPT = "The "


@contextlib.contextmanager
def learner_pieces(modules: dict):
    import importlib

    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def _train(ids, vocab_size: int, step_fn, steps: int, seed: int) -> tuple[object, list[float]]:
    import torch

    from llmlab.charlm.models import CharRNN
    from llmlab.training import TokenWindows, TrainConfig

    cfg = TrainConfig(lr=2e-2, min_lr=2e-3, warmup_steps=max(1, steps // 10), max_steps=steps, grad_clip=1.0)
    torch.manual_seed(seed)
    model = CharRNN("lstm", vocab_size, n_embd=32, hidden=128, n_layer=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    windows = TokenWindows(ids, block_size=32, batch_size=32, seed=seed)
    losses = []
    for step in range(steps):
        x, y = windows.next_batch()
        losses.append(step_fn(model, optimizer, x, y, step, cfg)[0])
    return model.eval(), losses


def _decode(model, tok, tokens: int, seed: int) -> dict[str, str]:
    from llmlab.charlm.cells import CellRNN
    from llmlab.charlm.decoding import decode

    cells = CellRNN(model)
    return {s: decode(cells, tok, PROMPT, s, tokens=tokens, top_k=10, top_p=0.9, beams=4, seed=seed)
            for s in STRATEGIES}


def run_charlm(folder: Path, modules: dict, steps: int = 60, seed: int = 0, tokens: int = 60,
               log=print) -> dict:
    """Reference, then the learner's: losses of each step and the five decodings of each model."""
    import numpy as np
    import torch

    from llmlab.charlm.train_step import train_step
    from llmlab.data import load_corpus
    from llmlab.tokenizer import CharTokenizer

    text = load_corpus("python-docs").split()[0].text[:60000]
    tok = CharTokenizer.train(text)
    ids = np.array(tok.encode(text), dtype=np.uint16)
    theirs = modules["train_step"].train_step if "train_step" in modules else train_step
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # a tiny LSTM: a second thread costs more than it saves
    try:
        log(f"reference run: a 1-layer LSTM (hidden 128) on 60,000 characters of python-docs, {steps} steps, "
            f"seed {seed}")
        ref_model, ref_losses = _train(ids, tok.vocab_size, train_step, steps, seed)
        ref_texts = _decode(ref_model, tok, tokens, seed)
        log("your run: " + (", ".join(sorted(set(modules) & (set(PATCHES) | {"train_step"}))) or
                            "no pieces of yours pass yet") + " swapped in"
            + (" (rnn_cell is graded only: this model is an LSTM)" if "rnn_cell" in modules else ""))
        with learner_pieces(modules):
            mine_model, mine_losses = _train(ids, tok.vocab_size, theirs, steps, seed)
            mine_texts = _decode(mine_model, tok, tokens, seed)
    finally:
        torch.set_num_threads(threads)
    return {"reference": ref_losses, "mine": mine_losses, "reference_texts": ref_texts,
            "mine_texts": mine_texts,
            "identical": ref_losses == mine_losses and ref_texts == mine_texts}


def run_mine(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print) -> str:
    """Print the losses and the decodings side by side; return the tracker's one-line note."""
    result = run_charlm(folder, modules, steps=steps, seed=seed, log=log)
    ref, mine = result["reference"], result["mine"]
    every = max(1, len(ref) // 6)
    log(f"{'step':>6} {'reference':>10} {'mine':>10}")
    for step in [*range(0, len(ref), every), len(ref) - 1][:8]:
        log(f"{step:>6} {ref[step]:>10.4f} {mine[step]:>10.4f}")
    log(f"decoding {PROMPT!r} (reference, then yours):")
    for s in STRATEGIES:
        a, b = result["reference_texts"][s], result["mine_texts"][s]
        log(f"  {s:<7} {a[:60]!r}")
        log(f"  {'':<7} {b[:60]!r}  {'same' if a == b else 'differs'}")
    same_losses = ref == mine
    same_texts = sum(result["reference_texts"][s] == result["mine_texts"][s] for s in STRATEGIES)
    summary = "identical" if result["identical"] else (f"same losses {same_losses}, {same_texts}/5 decodings "
                                                       f"the same")
    log(f"final loss: reference {ref[-1]:.4f}, mine {mine[-1]:.4f} ({summary})")
    pieces = ", ".join(sorted(set(modules) & (set(PATCHES) | {"train_step"}))) or "none"
    return (f"run --mine ({steps} steps; mine: {pieces}): final loss {mine[-1]:.4f} vs reference "
            f"{ref[-1]:.4f} ({summary})")
