"""The base model to fine-tune: a Hub name (`gpt2`, with a network), any HF model directory, or `tiny`.

    model, tok = load_base("gpt2")                       # AutoModelForCausalLM + AutoTokenizer
    directory = tiny_base("runs/finetune/base")          # a small GPT-2 pretrained here on python-stdlib

`tiny` needs no download: a BPE trained on part of python-stdlib and llmlab.pretrain's `gpt2-tiny`
trained on the same code for 300 steps (seconds on a laptop), saved as an HF model directory. Fine-tuning it on
python-docs (English prose) is then a real domain shift, code -> documentation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlab.hub import load_causal_lm

TINY = "tiny"


def tiny_base(out: str | Path, seconds: float = 20.0, steps: int = 300, documents: int = 150,
              vocab_size: int = 1024, seed: int = 0) -> Path:
    """Build (once) and return `out/run/checkpoint`, an HF directory with model and tokenizer.
    A step budget, so a busy machine trains the same model more slowly, capped at `seconds`."""
    from llmlab.pretrain.demo_data import stdlib_shards
    from llmlab.pretrain.train import pretrain

    out = Path(out)
    checkpoint = out / "run" / "checkpoint"
    if (checkpoint / "config.json").exists():
        return checkpoint
    stdlib_shards(out / "data", max_documents=documents, vocab_size=vocab_size)
    pretrain("gpt2-tiny", out / "data", out / "run",
             [f"max_time={seconds}", f"max_steps={steps}", "batch_size=8", "warmup_steps=20",
              "eval_interval=0", "eval_iters=4", f"seed={seed}", "report_to=none", "save_best=false"],
             overwrite=True)        # no finished base is here: what an interrupted build left is replaced
    return checkpoint


def load_base(spec: str | Path, work_dir: str | Path | None = None, seconds: float = 20.0) -> tuple[Any, Any, str]:
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
