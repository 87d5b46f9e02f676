"""GPT-2 style against Llama style, trained the same way: the same loop, data, steps, width, depth, heads
and (to within a few hundred) parameters; only the architecture differs.

    llmlab transformer compare --preset small --set max_steps=1000     # -> compare.png, summary.json
The Llama-style model ties its embeddings as GPT-2 does and spends the parameters GPT-2 puts into its
position table, LayerNorm biases and 4C-wide GELU MLP on a wider SwiGLU (`matched_llama_config`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from llmlab.numpy_transformer.llama import Llama, LlamaConfig
from llmlab.numpy_transformer.model import GPT, GPTConfig
from llmlab.runs import RunFolder


def matched_llama_config(gpt: GPTConfig, n_kv_head: int, n_inner: int | None = None) -> LlamaConfig:
    """The Llama-style twin of a GPT config; with n_inner None, the SwiGLU width that gives the parameter
    count closest to the GPT's."""
    cfg = LlamaConfig(vocab_size=gpt.vocab_size, n_positions=gpt.n_positions, n_embd=gpt.n_embd,
                      n_layer=gpt.n_layer, n_head=gpt.n_head, n_kv_head=n_kv_head, n_inner=n_inner or 1,
                      tie_word_embeddings=True, initializer_range=gpt.initializer_range)
    if n_inner:
        return cfg
    # parameters are linear in n_inner: 3 C n_inner per layer (gate, up and down matrices)
    target = GPT(gpt).num_parameters()
    rest = Llama(cfg).num_parameters() - 3 * gpt.n_embd * gpt.n_layer
    return dataclasses.replace(cfg, n_inner=max(1, round((target - rest) / (3 * gpt.n_embd * gpt.n_layer))))


def compare_architectures(cfg, run: RunFolder, log: Callable[[str], None] = print) -> dict:
    """Train cfg as gpt2 and as llama into run/gpt2 and run/llama; both loss curves in run/compare.png."""
    from llmlab.numpy_transformer.train import CharData, train
    from llmlab.plots import plot_curves

    data = CharData.load(cfg.corpus, cfg.block_size)
    run.save_config(cfg)
    results, series = {}, {}
    for arch in ("gpt2", "llama"):
        arch_cfg = dataclasses.replace(cfg, arch=arch)
        log(f"--- {arch}")
        sub = RunFolder.create("transformer", out=run.file(arch))
        result = train(arch_cfg, sub, log=log, data=data)
        rows = sub.metrics()
        train_pts = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
        val_pts = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
        series[f"{arch} train"] = tuple(zip(*train_pts, strict=True))
        series[f"{arch} val"] = tuple(zip(*val_pts, strict=True))
        results[arch] = {k: result[k] for k in ("parameters", "steps", "seconds", "tokens_per_s",
                                                "final_train_loss", "val_loss")}
    unigram = data.unigram_loss()
    series["unigram baseline (val)"] = ((0, cfg.max_steps), (unigram, unigram))
    plot_curves(series, run.file("compare.png"), ylabel="cross-entropy (nats/char)",
                title=f"GPT-2 style vs Llama style on {cfg.corpus}, {results['gpt2']['parameters']:,} / "
                      f"{results['llama']['parameters']:,} parameters", dashed=["unigram baseline (val)"])
    summary = {"corpus": cfg.corpus, **results, "unigram_val_loss": unigram,
               "llama_minus_gpt2_val_loss": results["llama"]["val_loss"] - results["gpt2"]["val_loss"],
               "pictures": ["compare.png"]}
    run.save_summary(summary)
    return summary
