"""Does the lab model copy a fact's value from its prompt? Builds the lab model with one variant of its recipe
(llmlab.chat.lab_model, any LabModelConfig field as a knob) and measures it on held-out memory questions, on
one CPU thread (minutes a variant).

    python benchmarks/lab_model_copying.py default          # the lab model as `make demo` builds it
    python benchmarks/lab_model_copying.py no-drills drill_steps=0 drill_share=0
    python benchmarks/lab_model_copying.py seed1 seed=1

Prints one JSON line (training seconds; memory_accuracy on 40 held-out questions of every kind and
locker_codes_copied on 40 locker-code questions whose code is in the prompt, both asked as the chat step asks
them, prompts within the 128 tokens the model trains on; the final loss on held-out copy drills, ~6 nats
without an induction circuit) and appends it to runs/bench/lab_model_copying.jsonl. Results: docs/results.md
(chat). The GPT-2 recipes measured before the lab model became a Llama are reproduced by this script at
commit 742aa84.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import torch

from llmlab.chat import lab_model as lm
from llmlab.chat.dialogues import docs_sentences
from llmlab.data import load_corpus
from llmlab.llm import load_llm


def main(name: str, knobs: dict[str, str]) -> dict:
    types = {f.name: f.type for f in fields(lm.LabModelConfig)}
    cfg = lm.LabModelConfig()
    for k, v in knobs.items():
        if k not in types:
            raise SystemExit(f"unknown knob {k!r}: one of {', '.join(types)}")
        cfg = replace(cfg, **{k: type(getattr(cfg, k))(v) if getattr(cfg, k) is not None else float(v)})
    out = Path("runs/bench/lab_model_copying") / name
    start = time.time()
    summary = lm.build_lab_model(out, cfg)
    seconds = time.time() - start
    torch.set_num_threads(1)
    sentences = docs_sentences(load_corpus(cfg.corpus).text[:cfg.corpus_chars])
    held_out = lm.memory_accuracy(load_llm(f"hf:{out}"), sentences, n=40, max_fillers=cfg.max_fillers,
                                  max_prompt=cfg.block_size)
    return {"name": name, "knobs": sys.argv[2:], "train_s": round(seconds, 1), "steps": summary.get("steps"),
            "drill_steps": summary["drills"].get("steps", 0),
            "drill_val_loss": summary["drills"].get("final_val_loss"),
            "memory_accuracy": held_out["memory_accuracy"],
            "locker_codes_copied": held_out["locker_codes_copied"],
            "examples": held_out["memory_examples"][:3]}


if __name__ == "__main__":
    result = main(sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:]))
    print(json.dumps(result))
    Path("runs/bench").mkdir(parents=True, exist_ok=True)
    with open("runs/bench/lab_model_copying.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
