"""Roadmap step for the BPE tokenizer: train, draw, measure compression, check parity with the references.

quick: python-docs (train split, 0.44 MB) to 3000 tokens, in well under the 40 s share of the demo;
full: python-stdlib (28 MB) to 32768 tokens. Held-out text is the corpus' val split.
"""

from __future__ import annotations

from llmlab.tokenizer.cli import EOT, TrainConfig, train_and_report


def run(ctx) -> dict:
    from transformers import AutoTokenizer

    from llmlab.data import load_corpus
    from llmlab.tokenizer.bpe import BPETokenizer
    from llmlab.tokenizer.compare import hf_train, parity, vocab_difference

    cfg = (TrainConfig("python-docs", 3000, "gpt2", [EOT]) if ctx.quick
           else TrainConfig("python-stdlib", 32768, "gpt2", [EOT]))
    folder = ctx.out / "tokenizer"
    report = train_and_report(cfg, folder, progress=False)
    tok = BPETokenizer.load(folder)
    train, val = load_corpus(cfg.corpus).split()
    held_out = [d.text for d in val.documents]

    same_ids = parity(tok, held_out)                       # llmlab = tiktoken export = HF export, held out
    same_ids["tiktoken_ids_equal_on_train"] = parity(tok, [train.text])["tiktoken_ids_equal"]
    hf = AutoTokenizer.from_pretrained(folder)             # the folder as a model directory would hold it
    sample = held_out[0][:2000] + EOT + " naïve 😀"
    autotokenizer_ok = hf.encode(sample) == tok.encode(sample, allowed_special="all")
    diff = vocab_difference(tok, hf_train([d.text for d in train.documents], cfg.vocab_size, cfg.pattern,
                                          [EOT]))
    n_diff = diff["only_llmlab"] + diff["only_hf"]

    checks = {
        "lossless_on_held_out_text": same_ids["roundtrip"],
        "ids_equal_tiktoken_held_out": same_ids["tiktoken_ids_equal"],
        "ids_equal_tiktoken_training_text": same_ids["tiktoken_ids_equal_on_train"],
        "ids_equal_hf_tokenizer_json": same_ids["hf_ids_equal"],
        "autotokenizer_loads_the_folder": autotokenizer_ok,
        # ties broken differently would be excused; HF's rule is implemented, so this is 0 in practice
        "vocab_matches_hf_bpe_trainer": n_diff <= 0.01 * cfg.vocab_size,
        "compresses_held_out_text": report["val_bytes_per_token"] > 2.0,
    }
    return {
        "checks": checks,
        "headline": (f"{cfg.corpus} → {tok.vocab_size} tokens: {report['val_bytes_per_token']:.2f} "
                     f"bytes/token "
                     f"held out; ids = tiktoken's and HF's; vocab vs HF BpeTrainer: {n_diff} differences"),
        "pictures": [f"tokenizer/{p}" for p in report["pictures"]],
        "vocab_size": tok.vocab_size,
        "train_seconds": report["train_seconds"],
        "train_bytes_per_token": report["train_bytes_per_token"],
        "val_bytes_per_token": report["val_bytes_per_token"],
        "vocab_difference_vs_hf": n_diff,
    }
