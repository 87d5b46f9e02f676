"""Training the NumPy GPT on a character corpus: random windows, AdamW, clipping, warmup + cosine,
periodic validation, a loss-curve PNG, a sample, and a Hugging Face model directory at the end.

    summary = train(apply_overrides(PRESETS["small"], ["corpus=tinyshakespeare"]),
                    RunFolder.create("transformer"))
The unigram baseline — the cross-entropy of the validation text under the training text's character
frequencies — is what a model that ignores context would score; a Transformer should end well below it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llmlab.errors import LabError
from llmlab.lr_schedule import warmup_then_decay
from llmlab.numpy_transformer.blas import auto_threads, blas_threads
from llmlab.numpy_transformer.model import GPT, GPTConfig
from llmlab.numpy_transformer.optim import AdamW, clip_grad_norm
from llmlab.progress import progress_bar
from llmlab.runs import RunFolder


@dataclass
class TransformerTrainConfig:
    corpus: str = "python-docs"          # python-docs | tinyshakespeare | python-stdlib | a path
    # --- model
    arch: str = "gpt2"                   # gpt2 | llama (RMSNorm, RoPE, SwiGLU, grouped-query attention)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128                # context length (n_positions)
    positional: str = "learned"          # learned | sinusoidal (gpt2 only; llama uses RoPE)
    n_kv_head: int = 0                   # llama: key/value heads; 0 = n_head
    n_inner: int = 0                     # llama: SwiGLU width; 0 = as many parameters as the gpt2 model
    dtype: str = "float32"
    # --- optimisation
    batch_size: int = 16
    max_steps: int = 1000
    max_time: float | None = None        # seconds; stops early (then the LR schedule follows the clock)
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: float = 0.05                 # fraction of the run spent warming up
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    blas_threads: int = 0                # 0: one for small models, all cores for large ones (see blas.py)
    # --- evaluation and output
    eval_interval: int = 100             # steps; 0 = only at the end
    eval_iters: int = 10                 # validation batches per evaluation
    log_interval: int = 10
    sample_prompt: str = "\n"
    sample_tokens: int = 300
    sample_temperature: float = 0.8
    sample_top_k: int = 0
    seed: int = 0

    def validate(self) -> TransformerTrainConfig:
        for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_steps", "eval_iters",
                     "log_interval"):
            if getattr(self, name) < 1:
                raise LabError(f"{name} must be >= 1, got {getattr(self, name)}",
                               hint=f"--set {name}=<a positive integer>")
        if self.max_time is not None and self.max_time <= 0:
            raise LabError(f"max_time must be > 0 seconds, got {self.max_time}",
                           hint="leave it unset for no limit")
        if not 0.0 <= self.warmup < 1.0:
            raise LabError(f"warmup is a fraction of the run, got {self.warmup}", hint="use e.g. 0.05")
        return self

    def model_config(self, vocab_size: int):
        """A GPTConfig, or for arch=llama its tied-embedding Llama-style twin (llama_training.py)."""
        gpt = GPTConfig(vocab_size=vocab_size, n_positions=self.block_size, n_embd=self.n_embd,
                        n_layer=self.n_layer, n_head=self.n_head, positional=self.positional)
        if self.arch == "gpt2":
            return gpt
        if self.arch != "llama":
            raise LabError(f"unknown arch {self.arch!r}", hint="--set arch=gpt2 or --set arch=llama")
        from llmlab.numpy_transformer.llama_training import matched_llama_config

        return matched_llama_config(gpt, self.n_kv_head or self.n_head, self.n_inner or None)


PRESETS: dict[str, TransformerTrainConfig] = {
    # the roadmap's quick step: a minute on two cores
    "tiny": TransformerTrainConfig(n_layer=2, n_head=4, n_embd=64, block_size=64, batch_size=16,
                                   max_steps=400,
                                   lr=3e-3, min_lr=3e-4, eval_interval=50, eval_iters=8, sample_tokens=200),
    # the default: a few minutes on two cores
    "small": TransformerTrainConfig(),
    # nanoGPT's "baby" shakespeare-char recipe (its CPU variant): a few minutes on two cores
    "shakespeare-char": TransformerTrainConfig(corpus="tinyshakespeare", n_layer=4, n_head=4, n_embd=128,
                                               block_size=64, batch_size=16, max_steps=2000, lr=2e-3,
                                               min_lr=2e-4, eval_interval=250, eval_iters=20),
}


def preset(name: str) -> TransformerTrainConfig:
    if name not in PRESETS:
        raise LabError(f"unknown preset {name!r}", hint="choose one of " + ", ".join(PRESETS))
    return dataclasses.replace(PRESETS[name])


@dataclass
class CharData:
    tokenizer: object
    train: np.ndarray        # int32 token ids
    val: np.ndarray

    @classmethod
    def load(cls, corpus: str, block_size: int) -> CharData:
        from llmlab.data import load_corpus
        from llmlab.tokenizer import CharTokenizer

        text = load_corpus(corpus)
        train_part, val_part = text.split()
        tok = CharTokenizer.train(text.text)              # every character of the corpus, val included
        train = np.asarray(tok.encode(train_part.text), dtype=np.int32)
        val = np.asarray(tok.encode(val_part.text), dtype=np.int32)
        if min(len(train), len(val)) <= block_size + 1:
            raise LabError(f"corpus {corpus!r} is too short for block_size={block_size} "
                           f"({len(train)} train / {len(val)} val characters)",
                           hint="use a longer corpus or a smaller block_size")
        return cls(tok, train, val)

    def unigram_loss(self) -> float:
        """Cross-entropy (nats/char) of val under add-one-smoothed train character frequencies."""
        from llmlab.data.baseline import unigram_loss

        return unigram_loss(self.train, self.val, self.tokenizer.vocab_size)


def batch(ids: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ids[s : s+T] and their next characters ids[s+1 : s+T+1]: (B, T) each."""
    index = starts[:, None] + np.arange(block_size)
    return ids[index], ids[index + 1]


def build_model(config, dtype: str = "float32", seed: int = 0) -> GPT:
    """A GPT for a GPTConfig, a Llama for a LlamaConfig."""
    from llmlab.numpy_transformer.llama import Llama, LlamaConfig

    return (Llama if isinstance(config, LlamaConfig) else GPT)(config, dtype=dtype, seed=seed)


def evaluate(model: GPT, ids: np.ndarray, cfg: TransformerTrainConfig, seed: int) -> float:
    """Mean loss over `eval_iters` fixed batches (the same windows at every evaluation)."""
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(cfg.eval_iters):
        x, y = batch(ids, rng.integers(0, len(ids) - cfg.block_size - 1, cfg.batch_size), cfg.block_size)
        losses.append(model.evaluate(x, y))
    return float(np.mean(losses))


def train(cfg: TransformerTrainConfig, run: RunFolder, log: Callable[[str], None] = print,
          data: CharData | None = None) -> dict:
    """Train, evaluate, save (run/model: config.json, model.safetensors, tokenizer), plot, sample."""
    cfg.validate()
    with blas_threads(cfg.blas_threads or auto_threads(cfg.n_embd)):
        return _train(cfg, run, log, data)


def _train(cfg: TransformerTrainConfig, run: RunFolder, log: Callable[[str], None],
           data: CharData | None) -> dict:
    data = data or CharData.load(cfg.corpus, cfg.block_size)
    run.save_config(cfg)              # after the corpus loaded: a bad --corpus leaves no run folder behind
    model = build_model(cfg.model_config(data.tokenizer.vocab_size), dtype=cfg.dtype, seed=cfg.seed)
    opt = AdamW(model.named_parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                weight_decay=cfg.weight_decay)
    grads = [g for _, _, g in model.named_parameters()]
    unigram = data.unigram_loss()
    log(f"model: {model.num_parameters():,} parameters; {len(data.train):,} train / {len(data.val):,} val "
        f"characters; unigram baseline {unigram:.3f} nats/char")
    rng = np.random.default_rng(cfg.seed)
    tokens_per_step = cfg.batch_size * cfg.block_size
    start, step, running, val_loss = time.perf_counter(), 0, [], float("nan")

    def progress() -> float:
        by_steps = step / cfg.max_steps
        return max(by_steps, (time.perf_counter() - start) / cfg.max_time) if cfg.max_time else by_steps

    def eval_now() -> float:
        loss = evaluate(model, data.val, cfg, cfg.seed + 1)
        run.log({"step": step, "val_loss": loss, "seconds": round(time.perf_counter() - start, 2)})
        return loss

    with progress_bar(total=cfg.max_steps, description="train", unit="tok", time_budget=cfg.max_time) as bar:
        while step < cfg.max_steps and progress() < 1.0:
            lr = warmup_then_decay(progress(), cfg.warmup, 1.0, cfg.lr, cfg.min_lr)   # progress: a fraction
            x, y = batch(data.train, rng.integers(0, len(data.train) - cfg.block_size - 1, cfg.batch_size),
                         cfg.block_size)
            loss = model.forward(x, y)
            model.backward()
            norm = clip_grad_norm(grads, cfg.grad_clip)
            opt.step(lr)
            if not math.isfinite(loss):
                raise LabError(f"the loss became {loss} at step {step}",
                               hint="lower lr or raise grad_clip's effect")
            step += 1
            running.append(loss)
            if step % cfg.log_interval == 0:
                elapsed = time.perf_counter() - start
                run.log({"step": step, "loss": float(np.mean(running)), "lr": lr, "grad_norm": norm,
                         "tokens_per_s": step * tokens_per_step / elapsed})
                running = []
            if cfg.eval_interval and step % cfg.eval_interval == 0:
                val_loss = eval_now()
            bar.advance(1, amount=tokens_per_step, status=f"loss {loss:.3f}")
    seconds = time.perf_counter() - start
    if not (cfg.eval_interval and step % cfg.eval_interval == 0):
        val_loss = eval_now()
    return finish(cfg, run, model, data, step, seconds, val_loss, unigram, log)


def finish(cfg: TransformerTrainConfig, run: RunFolder, model: GPT, data: CharData, steps: int,
           seconds: float,
           val_loss: float, unigram: float, log: Callable[[str], None]) -> dict:
    from llmlab.plots import plot_curves

    model_dir = run.file("model")
    model.save_pretrained(model_dir)
    data.tokenizer.save(model_dir)
    rows = run.metrics()
    train_rows = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
    val_rows = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    series = {name: tuple(zip(*pts, strict=True))
              for name, pts in (("train", train_rows), ("val", val_rows)) if pts}
    series["unigram baseline (val)"] = ((0, steps), (unigram, unigram))
    plot_curves(series, run.file("loss.png"), title=f"NumPy {cfg.arch} on {cfg.corpus} characters",
                ylabel="cross-entropy (nats/char)")
    from llmlab.generation import SamplingParams
    from llmlab.numpy_transformer.sampling import sample_text

    params = SamplingParams(temperature=cfg.sample_temperature, top_k=cfg.sample_top_k,
                            max_new_tokens=cfg.sample_tokens, seed=cfg.seed)
    sample = sample_text(model, data.tokenizer, cfg.sample_prompt, params)[0]
    run.file("sample.txt").write_text(cfg.sample_prompt + sample, encoding="utf-8")
    train_losses = [r["loss"] for r in rows if r.get("loss") is not None]
    summary = {
        "corpus": cfg.corpus, "parameters": model.num_parameters(), "steps": steps,
        "tokens": steps * cfg.batch_size * cfg.block_size, "seconds": round(seconds, 1),
        "tokens_per_s": round(steps * cfg.batch_size * cfg.block_size / max(seconds, 1e-9), 1),
        "first_train_loss": train_losses[0] if train_losses else None,
        "final_train_loss": train_losses[-1] if train_losses else None,
        "val_loss": val_loss, "val_bits_per_char": val_loss / math.log(2), "unigram_val_loss": unigram,
        "below_unigram_by": unigram - val_loss, "model_dir": str(model_dir), "pictures": ["loss.png"],
        "sample": sample,
    }
    run.save_summary(summary)
    log(f"{steps} steps in {seconds:.0f}s: val loss {val_loss:.3f} nats/char (unigram {unigram:.3f})")
    return summary
