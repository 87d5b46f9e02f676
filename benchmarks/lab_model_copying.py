"""Does the lab model copy a fact's value from its prompt? Trains one variant of the lab model's recipe
(llmlab.chat.lab_model) and measures it on held-out memory questions, on one CPU thread (minutes a variant).

    python benchmarks/lab_model_copying.py gpt2                      # the lab model as built today
    python benchmarks/lab_model_copying.py llama arch=llama          # Llama (RoPE, SwiGLU), same size
    python benchmarks/lab_model_copying.py ind25 arch=llama copy_share=0.25    # + repeated random tokens
    python benchmarks/lab_model_copying.py fmt25 arch=llama copy_share=0.25 copy_kind=format
    python benchmarks/lab_model_copying.py dig50 arch=llama copy_share=0.5 dialogue_share=0.45 \
        copy_kind=digits

Knobs: arch (gpt2 | llama: 4 K/V heads, SwiGLU 4x width, tied embeddings), copy_share (rows that drill
copying: a row is a drill with probability copy_share, else a dialogue with dialogue_share, else a corpus
window), copy_kind (induction: 8-40 random corpus tokens written twice, the second copy learned; digits: 6-30
random digits written twice; format: "My code is N." answered "Your code is N."), drill_steps (the first
steps are all drills: a curriculum), and any LabModelConfig field
(max_steps=, lr=, n_embd=, ...). Prints one JSON line (training seconds; memory_accuracy on 40 held-out
questions of every kind, as the chat step measures it; locker_exact on 30 locker-code questions whose code is
in the prompt) and appends it to runs/bench/lab_model_copying.jsonl. Results: docs/results.md (chat).
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from llmlab.chat import lab_model as lm
from llmlab.chat.dialogues import docs_sentences, memory_dialogue
from llmlab.data import load_corpus
from llmlab.generation import SamplingParams
from llmlab.llm import load_llm
from llmlab.runs import RunFolder
from llmlab.training import TrainConfig, Trainer
from llmlab.training.toy_gpt import build_toy_gpt


class DrillBatches(lm.LabBatches):
    """The lab model's batches with a share of copy drills."""

    def __init__(self, *args, copy_share: float, copy_kind: str, drill_steps: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.copy_share, self.copy_kind, self.drill_steps = copy_share, copy_kind, drill_steps

    def copy_row(self, rng: random.Random) -> tuple[list[int], list[bool]]:
        if self.copy_kind == "induction":
            n = rng.randint(8, 40)
            r = [int(self.ids[rng.randrange(len(self.ids))]) for _ in range(n)]
            return [self.eot] + r + r, [False] * (n + 2) + [True] * (n - 1)
        if self.copy_kind == "digits":
            n = rng.randint(6, 30)
            r = [int(t) for t in self.tok.encode(" " + "".join(rng.choice("0123456789") for _ in range(n)))]
            return [self.eot] + r + r, [False] * (len(r) + 2) + [True] * (len(r) - 1)
        n = rng.randint(3, 6)
        digits = "".join(rng.choice("0123456789") for _ in range(n))
        return lm.chat_ids(self.tok, [{"role": "user", "content": f"My code is {digits}."},
                                      {"role": "assistant", "content": f"Your code is {digits}."}])

    def _batch(self, rng: random.Random):
        rows = []
        for _ in range(self.batch_size):
            r = 0.0 if 0 < self.cursor <= self.drill_steps else rng.random()    # a curriculum: drills first
            rows.append(self.copy_row(rng) if r < self.copy_share else self.dialogue_row(rng)
                        if r < self.copy_share + self.cfg.dialogue_share else self.corpus_row(rng))
        return self.collate(rows)


def build_model(arch: str, cfg: lm.LabModelConfig, vocab: int):
    torch.manual_seed(cfg.seed)
    if arch == "gpt2":
        return build_toy_gpt(cfg, vocab, cfg.n_positions, sinusoidal=True)
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab, hidden_size=cfg.n_embd, num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head, intermediate_size=4 * cfg.n_embd,
        max_position_embeddings=cfg.n_positions, initializer_range=0.02, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=None, pad_token_id=None))


def locker_exact(llm, sentences: list[str], max_fillers: int, n: int = 30) -> float:
    """The share of n locker-code questions whose code is in the prompt answered exactly (greedy)."""
    rng, right, asked = random.Random(777), 0, 0
    params = SamplingParams(temperature=0.0, max_new_tokens=16)
    while asked < n:
        d = memory_dialogue(rng, sentences, max_fillers)
        if d.messages[-1]["content"] == "What is my locker code?" and d.answer.startswith("Your"):
            right += llm.chat(d.messages, params).text.strip() == d.answer
            asked += 1
    return right / n


def main(name: str, knobs: dict[str, str]) -> dict:
    arch = knobs.pop("arch", "gpt2")
    copy_share = float(knobs.pop("copy_share", 0))
    copy_kind = knobs.pop("copy_kind", "induction")
    drill_steps = int(knobs.pop("drill_steps", 0))
    cfg = lm.LabModelConfig()
    for k, v in knobs.items():
        cfg = replace(cfg, **{k: type(getattr(cfg, k))(v) if getattr(cfg, k) is not None else float(v)})
    out = Path("runs/bench/lab_model_copying") / name
    text = load_corpus(cfg.corpus).text[:cfg.corpus_chars]
    tok = lm.fit_tokenizer(text, cfg.vocab_size)
    tok.model_max_length = cfg.n_positions
    ids = np.array(tok.encode(text), dtype=np.int64)
    sentences = docs_sentences(text)
    model = build_model(arch, cfg, len(tok))
    model.config.eos_token_id = model.config.bos_token_id = tok.convert_tokens_to_ids(lm.EOT)
    train, val = (DrillBatches(tok, ids, sentences, cfg, stream=s, copy_share=copy_share, copy_kind=copy_kind,
                               drill_steps=drill_steps) for s in (0, 1))
    tc = TrainConfig(max_steps=cfg.max_steps, max_time=cfg.seconds, batch_size=cfg.batch_size, lr=cfg.lr,
                     min_lr=cfg.lr / 10, warmup_steps=30, weight_decay=0.0, eval_interval=0, eval_iters=4,
                     log_interval=100, checkpoint_interval=0, sample_prompts=[], save_best=False,
                     report_to="none", seed=cfg.seed, threads=1, device="cpu")
    run = RunFolder.start("lab-model", out=out / "train", overwrite=True)
    start = time.time()
    summary = Trainer(model, tc, run, train, val, tokenizer=None, run_config=asdict(cfg), description=name,
                      loss_fn=lm.offset_positions_loss(cfg.n_positions, cfg.seed, cfg.offset_share)).fit()
    seconds = time.time() - start
    model.eval().save_pretrained(str(out))
    tok.save_pretrained(str(out))
    torch.set_num_threads(1)
    llm = load_llm(f"hf:{out}")
    held_out = lm.memory_accuracy(llm, sentences, n=40, max_fillers=cfg.max_fillers)
    return {"name": name, "knobs": sys.argv[2:], "train_s": round(seconds, 1), "steps": summary.get("steps"),
            "memory_accuracy": held_out["memory_accuracy"],
            "locker_exact": locker_exact(llm, sentences, cfg.max_fillers),
            "examples": held_out["memory_examples"][:3]}


if __name__ == "__main__":
    result = main(sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:]))
    print(json.dumps(result))
    Path("runs/bench").mkdir(parents=True, exist_ok=True)
    with open("runs/bench/lab_model_copying.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
