"""The base model to fine-tune: a Hub name (`gpt2`, with a network), any HF model directory, or `tiny`.

    model, tok = load_base("gpt2")                       # AutoModelForCausalLM + AutoTokenizer
    directory = tiny_base("runs/finetune/base")          # a small GPT-2 pretrained here on python-stdlib

`tiny` needs no download: a BPE trained on part of python-stdlib and a GPT-2 of pretrain's `gpt2-tiny` shape
trained on the same code for 300 steps by the shared toy-GPT loop (seconds on a laptop), saved as an HF model
directory. Fine-tuning it on
python-docs (English prose) is then a real domain shift, code -> documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlab.hub import load_causal_lm

TINY = "tiny"


@dataclass
class TinyBaseShape:
    """The offline base: the shape of pretrain's `gpt2-tiny` (2 layers, 4 heads, width 64, 128-token
    blocks), trained by the shared toy-GPT loop (llmlab.training.toy_gpt) for a step budget."""
    max_steps: int = 300
    max_time: float | None = 120.0
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 128
    batch_size: int = 8
    lr: float = 3e-3
    warmup_steps: int = 20
    seed: int = 0
    threads: int = 0                 # 0: torch's default


def tiny_base(out: str | Path, seconds: float = 120.0, steps: int = 300, documents: int = 150,
              vocab_size: int = 1024, seed: int = 0) -> Path:
    """Build (once) and return `out/run/checkpoint`, an HF directory with model and tokenizer.
    A step budget, so a busy machine trains the same model more slowly; `seconds` is only a safety cap
    (300 steps take about 20 s on a quiet laptop core), so the base, and every figure fine-tuned from it,
    does not depend on how loaded the machine was."""
    from llmlab.data.demo_shards import stdlib_shards
    from llmlab.data.prepare import open_tokenizer
    from llmlab.data.shards import TokenShards
    from llmlab.runs import RunFolder
    from llmlab.training import TokenWindows
    from llmlab.training.toy_gpt import train_toy_gpt

    out = Path(out)
    checkpoint = out / "run" / "checkpoint"
    if (checkpoint / "config.json").exists():
        return checkpoint
    stdlib_shards(out / "data", max_documents=documents, vocab_size=vocab_size)
    shape = TinyBaseShape(max_steps=steps, max_time=seconds, seed=seed)
    train, val = (TokenWindows(TokenShards(out / "data", split).arrays, shape.block_size, shape.batch_size,
                               seed=seed) for split in ("train", "val"))
    # no finished base is here: what an interrupted build left is replaced
    run = RunFolder.start("finetune", out=out / "run", overwrite=True)
    train_toy_gpt(shape, train, val, open_tokenizer(out / "data" / "tokenizer"), run,
                  n_positions=shape.block_size, description="tiny base", sinusoidal=False)
    return checkpoint


def load_base(spec: str | Path, work_dir: str | Path | None = None, seconds: float = 120.0) -> tuple[Any, Any,
                                                                                                     str]:
    """(model, tokenizer, where it came from) for a Hub name, a directory, or `tiny` (built in work_dir,
    reused when it is there already)."""
    source = str(spec)
    if source == TINY:
        source = str(tiny_base(Path(work_dir or "runs/finetune/base"), seconds))
    model, tok = load_causal_lm(source, hint="give an HF model directory, a Hub name with a network (gpt2), "
                                             "or `tiny` for a small GPT-2 trained here")
    if tok.pad_token is None:        # GPT-2 has none; blocks are full-length, so padding never shows
        tok.pad_token = tok.eos_token
    return model, tok, source
