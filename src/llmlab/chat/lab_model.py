"""The lab model: the one small model `make demo` leaves behind for every command that takes `--model`
(chat, serve, `rag ask`, agents, cot, icl), at runs/roadmap/lab-model (the chat roadmap step builds it).

    llmlab chat repl --model runs/roadmap/lab-model
    build_lab_model(Path("runs/roadmap/lab-model"), LabModelConfig())      # what the roadmap step runs

A byte-level BPE (llmlab's own, 1,024 tokens) fitted to the Python docs, and a GPT-2 (2 layers, width 64) with
a 1,024-token window, trained for `max_steps` on two things at once: windows of the Python docs (it writes
documentation-like English) and synthetic memory dialogues (dialogues.py), where the answer must be copied
from an earlier turn, a recalled note or a pinned fact. It is no assistant. After the quick budget (800 steps)
it tells whether its prompt holds the fact asked for ("Your locker code is ..." vs "I do not know your locker
code."), which makes chat memory visible, but it does not copy the value: 0 of 30 held-out locker codes exact,
and no better with a Llama of the same size (RoPE), with copy drills (repeated random tokens or digits, a
quarter or half of the rows, or 400 steps of drills first) or in-format copy rows — copying needs an induction
circuit, which does not form in 800 steps at this size (benchmarks/lab_model_copying.py; numbers in
docs/results.md). Rows are at most `block_size` tokens and a quarter of the batches sit at a random offset of
the window, so the later position embeddings are trained too: every command's default prompt fits, though past
~128 tokens of prompt the model writes noise.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

EOT = "<|endoftext|>"
# every message ends with EOT, so the model learns where any reply ends (and generation stops there)
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}" + EOT + "\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


@dataclass
class LabModelConfig:
    vocab_size: int = 1024
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_positions: int = 1024          # the window every command sees
    block_size: int = 128            # the longest training row
    batch_size: int = 16
    dialogue_share: float = 0.9     # the rest are windows of the corpus
    max_fillers: int = 2             # small-talk exchanges in a dialogue, at most
    offset_share: float = 0.25       # batches placed at a random offset of the window
    max_steps: int = 800             # a step budget, not a time budget: the same model on a busy machine
    seconds: float | None = None     # an optional wall-clock cap
    lr: float = 5e-3
    corpus: str = "python-docs"
    corpus_chars: int = 300_000      # the BPE is fitted to (and the LM trained on) this much of the corpus
    seed: int = 0
    threads: int = 1                 # a model this small trains fastest on one thread


class LabBatches:
    """Batches of rows mixing fresh memory dialogues (only the last answer + EOS learned) and corpus windows
    (every token learned), padded to the batch's longest row; batch i comes from a generator seeded by
    (seed, stream, i), so a resume is exact and eval_batch(i) is the same at every evaluation."""

    def __init__(self, tokenizer, corpus_ids, sentences: list[str], cfg: LabModelConfig, stream: int = 0):
        self.tok, self.ids, self.sentences, self.cfg = tokenizer, corpus_ids, sentences, cfg
        self.stream = stream
        self.block_size, self.batch_size = cfg.block_size, cfg.batch_size
        self.eot = tokenizer.convert_tokens_to_ids(EOT)
        self.cursor = 0

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def dialogue_row(self, rng: random.Random) -> tuple[list[int], list[bool]]:
        from llmlab.chat.dialogues import memory_dialogue

        while True:
            d = memory_dialogue(rng, self.sentences, self.cfg.max_fillers)
            ids, learn = chat_ids(self.tok, d.messages + [{"role": "assistant", "content": d.answer}])
            if len(ids) <= self.block_size + 1:
                return ids, learn

    def corpus_row(self, rng: random.Random) -> tuple[list[int], list[bool]]:
        n = self.block_size + 1
        start = rng.randrange(len(self.ids) - n)
        return [int(t) for t in self.ids[start:start + n]], [True] * n

    def _batch(self, rng: random.Random):
        rows = [self.dialogue_row(rng) if rng.random() < self.cfg.dialogue_share else self.corpus_row(rng)
                for _ in range(self.batch_size)]
        return self.collate(rows)

    def collate(self, rows: list[tuple[list[int], list[bool]]]):
        """(x, y) of rows padded with EOT to the longest (a multiple of 8, at most block_size); y holds the
        next token where the row learns it, IGNORE_INDEX elsewhere."""
        import torch

        from llmlab.training.batches import IGNORE_INDEX

        n = min(self.block_size, -(-max(len(r[0]) - 1 for r in rows) // 8) * 8)     # a multiple of 8
        x = torch.full((len(rows), n), self.eot, dtype=torch.long)                    # (B, T)
        y = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)                # (B, T)
        for i, (ids, learn) in enumerate(rows):
            x[i, :len(ids) - 1] = torch.tensor(ids[:-1])
            y[i, :len(ids) - 1] = torch.tensor([t if ok else IGNORE_INDEX
                                                for t, ok in zip(ids[1:], learn[1:], strict=True)])
        return x, y

    def next_batch(self):
        self.cursor += 1
        return self._batch(random.Random(f"{self.cfg.seed}-{self.stream}-{self.cursor}"))

    def eval_batch(self, index: int):
        return self._batch(random.Random(f"{self.cfg.seed}-eval-{index}"))

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cursor = int(state["cursor"])


def chat_ids(tok, messages: list[dict[str, str]]) -> tuple[list[int], list[bool]]:
    """The ids of `messages` in CHAT_TEMPLATE, message by message (the same ids as the whole rendered text:
    the pre-tokeniser cuts at ':', before a space and at the special token), and which are learned: every
    assistant reply that copies or acknowledges a fact, the last reply whatever it is, and the EOT that ends
    them (earlier small talk is context only: it would take most of the loss from the copying)."""
    from llmlab.chat.dialogues import is_memory_reply

    ids: list[int] = []
    learn: list[bool] = []
    for i, m in enumerate(messages):
        head = tok.encode(f"{m['role']}:")
        body = tok.encode(f" {m['content']}") + [tok.convert_tokens_to_ids(EOT)]
        ids += head + body + tok.encode("\n")
        learned = m["role"] == "assistant" and (i == len(messages) - 1 or is_memory_reply(m["content"]))
        learn += [False] * len(head) + [learned] * len(body) + [False]
    return ids, learn


def offset_positions_loss(n_positions: int, seed: int, share: float):
    """The causal-LM loss with a `share` of the batches placed at a random offset of the window (positions
    offset..offset+T), so rows of at most block_size tokens also train the later position embeddings; the rest
    start at 0, where a chat's prompt starts (every offset at once would spread the few steps over 1,024
    places)."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)

    def loss(model, x, y):
        T = x.shape[1]
        moved = float(torch.rand((), generator=gen)) < share
        offset = int(torch.randint(0, n_positions - T + 1, (1,), generator=gen)) if moved else 0
        positions = torch.arange(offset, offset + T, device=x.device).expand_as(x)        # (B, T)
        logits = model(input_ids=x, position_ids=positions, use_cache=False).logits       # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))

    return loss


def lab_pattern() -> str:
    """GPT-2's split pattern with one digit per piece (as Llama's and DeepSeek's tokenizers do): a code is
    then a token per digit, the same tokens wherever it appears, so copying it is copying a few known
    tokens."""
    from llmlab.tokenizer.pretokenize import PATTERNS

    return PATTERNS["gpt2"].replace(r" ?\p{N}+", r" ?\p{N}")


def fit_tokenizer(text: str, vocab_size: int):
    """llmlab's byte-level BPE with <|endoftext|> (the EOS every answer ends with), as a transformers
    tokenizer."""
    from llmlab.tokenizer.bpe import BPETokenizer

    bpe = BPETokenizer.train(text, vocab_size, pattern=lab_pattern(), special_tokens=[EOT], progress=False)
    hf = bpe.to_hf()
    hf.chat_template = CHAT_TEMPLATE
    return hf


def build_lab_model(out: Path, cfg: LabModelConfig, train_dir: Path | None = None) -> dict[str, Any]:
    """Fit the tokenizer, train the model, and write a Hugging Face model directory into `out`; the training
    run (metrics.jsonl, config.json) goes to `train_dir` (default out/train). Returns the trainer's
    summary."""
    import numpy as np
    import torch

    from llmlab.chat.dialogues import docs_sentences
    from llmlab.data import load_corpus
    from llmlab.runs import RunFolder
    from llmlab.training import TrainConfig, Trainer
    from llmlab.training.toy_gpt import build_toy_gpt

    text = load_corpus(cfg.corpus).text[:cfg.corpus_chars]
    tok = fit_tokenizer(text, cfg.vocab_size)
    tok.model_max_length = cfg.n_positions
    ids = np.array(tok.encode(text), dtype=np.int64)
    sentences = docs_sentences(text)
    torch.manual_seed(cfg.seed)
    model = build_toy_gpt(cfg, len(tok), cfg.n_positions, sinusoidal=True)
    model.config.eos_token_id = model.config.bos_token_id = tok.convert_tokens_to_ids(EOT)
    train, val = LabBatches(tok, ids, sentences, cfg), LabBatches(tok, ids, sentences, cfg, stream=1)
    tc = TrainConfig(max_steps=cfg.max_steps, max_time=cfg.seconds, batch_size=cfg.batch_size,
                     lr=cfg.lr, min_lr=cfg.lr / 10, warmup_steps=30, weight_decay=0.0, eval_interval=0,
                     eval_iters=4, log_interval=25, checkpoint_interval=0, sample_prompts=[], save_best=False,
                     report_to="none", seed=cfg.seed, threads=cfg.threads, device="cpu")
    # rebuilding the lab model replaces its training run (never a second run's steps appended to the first's)
    run = RunFolder.start("lab-model", out=train_dir or out / "train", overwrite=True)
    summary = Trainer(model, tc, run, train, val, tokenizer=None, run_config=asdict(cfg),
                      loss_fn=offset_positions_loss(cfg.n_positions, cfg.seed, cfg.offset_share),
                      description="lab model").fit()
    model.eval().save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return summary


def memory_accuracy(llm, sentences: list[str], n: int = 40, seed: int = 10_000,
                    max_fillers: int = 2) -> dict[str, Any]:
    """Greedy answers to n held-out memory questions (fact in a turn, a recalled note, a pinned fact, or
    nowhere): the share answered exactly, and a few examples."""
    from llmlab.chat.dialogues import memory_dialogue
    from llmlab.generation import SamplingParams

    rng, right, examples, asked = random.Random(seed), 0, [], 0
    params = SamplingParams(temperature=0.0, max_new_tokens=24)
    while asked < n:
        d = memory_dialogue(rng, sentences, max_fillers)
        if d.messages[-1]["content"].endswith("?"):
            got = llm.chat(d.messages, params).text.strip()
            right += got == d.answer
            asked += 1
            if len(examples) < 5:
                examples.append({"question": d.messages[-1]["content"], "expected": d.answer, "answer": got})
    return {"memory_questions": n, "memory_accuracy": right / n, "memory_examples": examples}
