"""Roadmap step for project 5: quantise a tiny model to int8, chat through it with a small window so the context
logic trims and recalls, save and reload the session, round-trip a Q8_0 GGUF, and build the Gradio app.

quick and full are the same (about 15 s of the demo's 10 minutes): a Llama-shaped model (2 layers, width 64, a
256-token window) trained for TRAIN_SECONDS on the Python docs, so its replies read like scraps of documentation
rather than noise. It follows no instructions; the step checks the mechanics, not the answers.
"""

from __future__ import annotations

WINDOW = 256                # small, so the seven turns below cannot all fit
TRAIN_SECONDS = 5.0
SYSTEM = "You are a helpful assistant. Answer briefly."
TURNS = [
    "My name is Ada and my favourite colour is teal.",
    "I am learning how transformers work.",
    "Tell me about attention heads.",
    "What does a tokenizer do with unicode text?",
    "How many layers does a tiny model have?",
    "Give me one tip for training on a laptop.",
    "Which colour did I say was my favourite?",
]


def _train_tiny_model(out, seed: int) -> tuple:
    """A tiny Llama with a BPE fitted to the Python docs, trained TRAIN_SECONDS on them by llmlab's loop."""
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.data import load_corpus
    from llmlab.runs import RunFolder
    from llmlab.serve.random_model import make_model_dir
    from llmlab.training import TokenWindows, TrainConfig, Trainer

    text = load_corpus("python-docs").text
    # a BPE fitted to English (the Python docs) so a turn is a few dozen tokens, not one per character
    model_dir = make_model_dir(out / "model", family="llama", preset="tiny", tokenizer="bpe", seed=seed,
                               text=text[:100_000], bpe_vocab=1024, n_positions=WINDOW, init_std=0.02)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    ids = np.array(tokenizer.encode(text[:300_000]), dtype=np.uint16)
    cfg = TrainConfig(max_steps=10_000, max_time=TRAIN_SECONDS, decay_by="time", batch_size=16, lr=3e-3,
                      min_lr=3e-4, warmup_steps=20, eval_interval=0, eval_iters=2, checkpoint_interval=0,
                      save_best=False, threads=1, tensorboard=False, seed=seed)
    run = RunFolder.start("chat", out=out / "train", overwrite=True)     # the roadmap replaces its own run
    trained = Trainer(model, cfg, run, TokenWindows(ids, 64, 16, seed=seed),
                      description="tiny chat model").fit()
    model.eval().save_pretrained(str(model_dir))
    return model_dir, trained


def _context_picture(rows: list[dict], budget: int, window: int, path) -> None:
    from llmlab.plots import plot_curves

    turns = [r["turn"] for r in rows]
    plot_curves({"whole conversation (untrimmed)": (turns, [r["untrimmed"] for r in rows]),
                 "prompt sent (after trimming)": (turns, [r["prompt"] for r in rows]),
                 f"budget = window {window} - max_new_tokens": (turns, [budget] * len(rows))},
                path, title="context budget by turn", xlabel="turn", ylabel="tokens")


def run(ctx) -> dict:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # a model this small decodes fastest on one thread (two wait on each other)
    try:
        return _run(ctx)
    finally:
        torch.set_num_threads(threads)


def _run(ctx) -> dict:
    import torch

    from llmlab.chat.bot import ChatBot
    from llmlab.chat.context import system_message
    from llmlab.chat.evaluate import compare_int8
    from llmlab.chat.gguf_export import export_gguf
    from llmlab.chat.loading import load_chat_llm
    from llmlab.chat.memory import ChatStore
    from llmlab.chat.ui import ChatUI
    from llmlab.generation import SamplingParams
    from llmlab.hub import load_causal_lm
    from llmlab.llm import load_llm

    torch.manual_seed(ctx.seed)
    model_dir, trained = _train_tiny_model(ctx.out, ctx.seed)
    float_model, tokenizer = load_causal_lm(str(model_dir), dtype="float32")
    quant = compare_int8(float_model, tokenizer, out=ctx.out)

    # a conversation through the int8 model, with a window small enough that old turns must go
    llm, report = load_chat_llm(str(model_dir), quantize="int8")
    import shutil

    shutil.rmtree(ctx.out / "sessions", ignore_errors=True)      # a fresh conversation on every run
    store = ChatStore(ctx.out / "sessions")
    session = store.open("demo")
    session.remember("the user is called Ada")
    bot = ChatBot(llm, session, system=SYSTEM)
    params = SamplingParams(temperature=0.8, top_p=0.95, max_new_tokens=24, seed=ctx.seed)
    rows, plans = [], []
    for turn, text in enumerate(TURNS, 1):
        untrimmed = llm.count_chat_tokens(system_message(SYSTEM, bot.session.facts) + bot.session.history()
                                          + [{"role": "user", "content": text}])
        bot.reply(text, params)
        plan = bot.last_plan
        plans.append(plan)
        rows.append({"turn": turn, "untrimmed": untrimmed, "prompt": plan.prompt_tokens,
                     "dropped_messages": len(plan.dropped), "memory_notes": len(plan.memory_kept)})
    _context_picture(rows, plans[0].budget, llm.context_window, ctx.out / "context_budget.png")
    last = plans[-1]
    recalled = any("favourite colour is teal" in note for note in last.memory_kept)

    reloaded = ChatStore(ctx.out / "sessions").open("demo")
    app = ChatUI(llm, store).build("demo")

    gguf_file = export_gguf(model_dir, ctx.out / "gguf" / "tiny.Q8_0.gguf", "q8_0")
    gguf_llm = load_llm(f"gguf:{gguf_file}", runtime="transformers")
    ids = torch.tensor([tokenizer.encode(TURNS[0])])
    with torch.no_grad():
        ref = float_model(ids).logits
        gguf_error = float((gguf_llm.model(ids).logits - ref).norm() / ref.norm())

    # the quantised layers alone: 4 bytes a weight -> 1 byte a weight + 4 bytes a row (the scale)
    layer_ratio = sum(4 * o * i for o, i in (r.shape for r in report.layers)) / sum(
        o * i + 4 * o for o, i in (r.shape for r in report.layers))
    checks = {
        "int8_logits_close_to_float": quant["relative_logit_error"] < 0.06 and quant["argmax_agreement"] >= 0.9,
        "int8_layers_4x_smaller": layer_ratio > 3.5 and report.bytes_after < report.bytes_before,
        "context_trimmed_and_fits": any(r["dropped_messages"] for r in rows)
                                    and all(p.prompt_tokens <= p.budget for p in plans),
        "system_first_newest_user_last": all(p.messages[0]["role"] == "system" and
                                             p.messages[-1] == {"role": "user", "content": t}
                                             for p, t in zip(plans, TURNS, strict=True)),
        "trimmed_fact_recalled": recalled and "- the user is called Ada" in last.messages[0]["content"],
        "session_reloaded": reloaded.history() == bot.session.history() and reloaded.facts == session.facts,
        "gradio_app_builds": type(app).__name__ == "Blocks",
        "gguf_q8_0_close_to_float": gguf_error < 0.06,
    }
    dropped_max = max(r["dropped_messages"] for r in rows)
    return {
        "checks": checks,
        "headline": (f"int8 weights {report.bytes_before / 1024:.0f} -> {report.bytes_after / 1024:.0f} KiB "
                     f"({report.compression:.2f}x with embeddings and head float; {layer_ratio:.2f}x on the int8 layers), logits within "
                     f"{quant['relative_logit_error']:.2%} of fp32, argmax agrees {quant['argmax_agreement']:.0%}; "
                     f"{len(TURNS)} turns in a {llm.context_window}-token window: up to {dropped_max} old messages "
                     f"trimmed, the trimmed fact recalled by BM25; session reloaded; Q8_0 GGUF within "
                     f"{gguf_error:.2%}"),
        "pictures": ["context_budget.png", "layer_errors.png"],
        "turns": rows,
        "int8_layer_compression": layer_ratio,
        "int8": {k: v for k, v in quant.items() if k not in ("pictures",)},
        "gguf_q8_0_relative_logit_error": gguf_error,
        "last_prompt_report": last.report(),
        "train_steps": trained.get("steps"), "train_seconds": TRAIN_SECONDS,
        "last_reply": bot.session.history()[-1]["content"],
    }
