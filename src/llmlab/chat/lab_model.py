"""The lab model: the one small model `make demo` leaves behind for every command that takes `--model`
(chat, serve, `rag ask`, agents, cot, icl), at runs/roadmap/lab-model (the chat roadmap step builds it).

    llmlab chat repl --model runs/roadmap/lab-model
    build_lab_model(Path("runs/roadmap/lab-model"), LabModelConfig())      # what the roadmap step runs

A byte-level BPE (llmlab's own, 1,024 tokens, one digit per token) fitted to the Python docs, and a Llama
(2 layers, width 64, rotary positions, tied embeddings) with a 1,024-token window, trained in two runs:
`drill_steps` of copy drills alone (copy_drills.py: a segment of random tokens written twice, the second copy
learned), in which the induction circuit that copying needs forms; then `max_steps` on synthetic memory
dialogues (dialogues.py: the answer must be copied from an earlier turn, a recalled note or a pinned fact),
with a share of drill rows kept so the circuit is not unlearned. It is no assistant: it answers memory
questions ("Your locker code is 6311." when its prompt holds the code, "I do not know your locker code." when
not) and otherwise writes documentation-like sentences. Why this recipe: the earlier GPT-2 of the same size
trained 800 steps on the dialogues told whether its prompt held the fact but copied no locker code at all,
whatever drills were mixed in, and pure drills formed no circuit in a GPT-2 with learned positions after 1,500
steps; in a Llama they do (benchmarks/lab_model_copying.py, docs/results.md). Training rows are at most
`block_size` tokens: prompts within that are answered (the chat step keeps its prompts there), longer ones get
noise, though every command's default prompt fits the window.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmlab.chat.copy_drills import DRILL_BATCH, DRILL_LENGTH, CopyDrills, drill_row
from llmlab.training.batches import SeededBatches, collate_rows

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
    drill_steps: int = 1200          # first, copy drills alone (copy_drills.py): the induction circuit forms
    drill_lr: float = 1e-3           # constant, unclipped: the setting in which that circuit forms
    drill_share: float = 0.2         # then, rows of drills beside the dialogues, so the circuit is kept
    dialogue_share: float = 0.9      # of the other rows; the rest are windows of the corpus (its English)
    max_fillers: int = 2             # small-talk exchanges in a dialogue, at most
    max_steps: int = 1200            # a step budget, not a time budget: the same model on a busy machine
    seconds: float | None = None     # an optional wall-clock cap (on the dialogue steps)
    lr: float = 3e-3
    corpus: str = "python-docs"
    corpus_chars: int = 300_000      # the BPE is fitted to (the drills drawn from) this much of the corpus
    seed: int = 0
    threads: int = 1                 # a model this small trains fastest on one thread


class LabBatches(SeededBatches):
    """Batches of rows mixing copy drills (only the second copy learned), fresh memory dialogues (only the
    last answer + EOS learned) and corpus windows (every token learned), padded to the batch's longest row;
    batch i comes from a generator seeded by (seed, stream, i) (SeededBatches)."""

    def __init__(self, tokenizer, corpus_ids, sentences: list[str], cfg: LabModelConfig, stream: int = 0):
        self.tok, self.ids, self.sentences, self.cfg = tokenizer, corpus_ids, sentences, cfg
        self.stream, self.key = stream, str(cfg.seed)
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

    def row(self, rng: random.Random) -> tuple[list[int], list[bool]]:
        if rng.random() < self.cfg.drill_share:
            return drill_row(rng, self.ids, self.eot, DRILL_LENGTH, self.tok.encode)
        return self.dialogue_row(rng) if rng.random() < self.cfg.dialogue_share else self.corpus_row(rng)

    def _batch(self, rng: random.Random):
        return collate_rows([self.row(rng) for _ in range(self.batch_size)], self.eot, self.block_size)


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
    """Fit the tokenizer, train the model (drills, then dialogues), and write a Hugging Face model directory
    into `out`; the two training runs (metrics.jsonl, config.json) go to `train_dir`/drills and
    `train_dir`/dialogues (default out/train). Returns the dialogue run's summary, the drill run's under
    "drills"."""
    import numpy as np
    import torch

    from llmlab.chat.dialogues import docs_sentences
    from llmlab.data import load_corpus
    from llmlab.runs import RunFolder
    from llmlab.training import Trainer
    from llmlab.training.toy_llama import build_toy_llama

    text = load_corpus(cfg.corpus).text[:cfg.corpus_chars]
    tok = fit_tokenizer(text, cfg.vocab_size)
    tok.model_max_length = cfg.n_positions
    ids = np.array(tok.encode(text), dtype=np.int64)
    sentences = docs_sentences(text)
    eot = tok.convert_tokens_to_ids(EOT)
    torch.manual_seed(cfg.seed)
    model = build_toy_llama(cfg, len(tok), cfg.n_positions)
    model.config.eos_token_id = model.config.bos_token_id = eot
    train_dir = train_dir or out / "train"
    # rebuilding the lab model replaces its training runs (never a second run's steps appended to the first's)
    drilled: dict[str, Any] = {}
    if cfg.drill_steps:
        drills = (CopyDrills(ids, eot, seed=cfg.seed, number=tok.encode),
                  CopyDrills(ids, eot, seed=cfg.seed, stream=1, number=tok.encode))
        drilled = Trainer(model, _train_config(cfg, drills=True),
                          RunFolder.start("lab-model", out=train_dir / "drills", overwrite=True), *drills,
                          tokenizer=None, run_config=asdict(cfg), description="lab model: copy drills").fit()
    batches = LabBatches(tok, ids, sentences, cfg), LabBatches(tok, ids, sentences, cfg, stream=1)
    summary = Trainer(model, _train_config(cfg, drills=False),
                      RunFolder.start("lab-model", out=train_dir / "dialogues", overwrite=True), *batches,
                      tokenizer=None, run_config=asdict(cfg), description="lab model: dialogues").fit()
    model.eval().save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return {**summary, "drills": drilled}


def _train_config(cfg: LabModelConfig, drills: bool):
    """The drills: a constant 1e-3, no clipping, Adam's beta2 0.999 (the attention toy's setting, in which
    the circuit forms; a higher rate or the dialogues' clipping slowed it down). The dialogues: warmup, then
    a cosine from lr to lr / 10."""
    from llmlab.training import TrainConfig

    common = dict(weight_decay=0.0, eval_interval=0, eval_iters=4, log_interval=25, checkpoint_interval=0,
                  sample_prompts=[], save_best=False, report_to="none", seed=cfg.seed, threads=cfg.threads,
                  device="cpu")
    if drills:
        return TrainConfig(max_steps=cfg.drill_steps, batch_size=DRILL_BATCH, lr=cfg.drill_lr,
                           min_lr=cfg.drill_lr, schedule="constant", warmup_steps=20, beta2=0.999,
                           grad_clip=0.0, **common)
    return TrainConfig(max_steps=cfg.max_steps, max_time=cfg.seconds, batch_size=cfg.batch_size, lr=cfg.lr,
                       min_lr=cfg.lr / 10, warmup_steps=30, **common)


def memory_accuracy(llm, sentences: list[str], n: int = 40, seed: int = 10_000, max_fillers: int = 2,
                    max_prompt: int | None = None) -> dict[str, Any]:
    """Greedy answers to n held-out memory questions (fact in a turn, a recalled note, a pinned fact, or
    nowhere) and to n questions for a locker code that the prompt holds: the share of each answered exactly,
    and a few examples. Only prompts of at most `max_prompt` tokens are asked (the lab model trains on rows of
    block_size tokens, and the chat step keeps its prompts within that; longer ones it answers with noise)."""
    from llmlab.chat.dialogues import memory_dialogue
    from llmlab.generation import SamplingParams

    rng, params = random.Random(seed), SamplingParams(temperature=0.0, max_new_tokens=24)
    memory, lockers, examples = [], [], []          # exact or not, per question asked
    while len(memory) < n or len(lockers) < n:
        d = memory_dialogue(rng, sentences, max_fillers)
        question = d.messages[-1]["content"]
        as_memory = question.endswith("?") and len(memory) < n
        as_locker = question == "What is my locker code?" and d.answer.startswith("Your") and len(lockers) < n
        if not (as_memory or as_locker) or (max_prompt and llm.count_chat_tokens(d.messages) > max_prompt):
            continue
        got = llm.chat(d.messages, params).text.strip()
        if as_memory:
            memory.append(got == d.answer)
            if len(examples) < 5:
                examples.append({"question": question, "expected": d.answer, "answer": got})
        if as_locker:
            lockers.append(got == d.answer)
    return {"memory_questions": n, "memory_accuracy": sum(memory) / n,
            "locker_codes_copied": sum(lockers) / n,
            "max_prompt_tokens": max_prompt, "memory_examples": examples}
