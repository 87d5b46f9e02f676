"""Roadmap step for project 5: build the lab model, chat with it through int8 past the end of its window and
show memory putting a fact back; save and reload the session; quantise to int8 and round-trip a Q8_0 GGUF;
build the Gradio app. `_run` lists the steps, one small function each.

The lab model (lab_model.py: a Llama, BPE, a 1,024-token window, trained on copy drills and then on synthetic
memory dialogues) is left at runs/roadmap/lab-model for chat, serve, `rag ask`, agents, cot and icl. The
conversation states a locker code, then small talk runs it out of the window; asked "What is my locker code?"
with memory (BM25 recall puts the turn back under the system prompt) the model copies the code, and with
memory off (no recall, no pinned facts) it says it does not know: both are checked, and the share of held-out
locker questions answered exactly is reported. The Q8_0 GGUF round trip runs on the lab model too.
"""

from __future__ import annotations

import random

PINNED = "my name is Ada"
TOPICS = ["dictionaries", "generators", "decorators", "exceptions", "iterators", "modules", "classes",
          "functions", "strings", "integers", "lists", "tuples", "comprehensions", "closures", "coroutines",
          "descriptors", "namespaces", "packages", "arguments", "keywords", "operators", "slices",
          "sequences", "mappings", "attributes", "methods", "threads", "sockets", "files", "numbers",
          "objects", "types", "variables"]
QUESTION = "What is my locker code?"
MAX_TURNS = 60


def lab_model_dir(ctx):
    """runs/roadmap/lab-model: beside the step folders, where the README and every command's docs point."""
    return ctx.out.parent / "lab-model"


def default_fits(llm) -> dict[str, bool]:
    """Whether each command's default answer length leaves room for its prompt in the model's window without
    scaling: chat (256), rag ask (256), agents (256 per step), cot (256), icl (12)."""
    from llmlab.agents.agent import AgentConfig
    from llmlab.chat.bot import DEFAULT_SYSTEM
    from llmlab.chat.context import fit_context
    from llmlab.experiments.harness import CotRun, IclRun
    from llmlab.rag.prompts import qa_messages

    window = llm.context_window
    plan = fit_context(llm, DEFAULT_SYSTEM, [], "Hello!", 256)
    rag = llm.count_chat_tokens(qa_messages("How do I leave a loop early?", []))
    return {"chat": plan.fits and 256 <= window // 2, "rag_ask": rag + 256 <= window and 256 <= window // 2,
            "agents": AgentConfig().max_new_tokens <= window // 2,
            "cot": CotRun().max_new_tokens <= window // 2, "icl": IclRun().max_new_tokens <= window // 2}


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
    torch.set_num_threads(1)    # a model this small decodes fastest on one thread (two wait on each other)
    try:
        return _run(ctx)
    finally:
        torch.set_num_threads(threads)


def _conversation(llm, store, code: str, seed: int, prompt_room: int) -> dict:
    """State the code, make small talk until the conversation is longer than the window and the statement is
    out of it, then ask for the code with memory (the ChatBot: pinned facts + BM25 recall) and without.

    Every turn keeps window - prompt_room tokens for the answer, so the prompt sent stays within the
    prompt_room tokens the lab model was trained on (its rows are at most 128 tokens); the conversation still
    outgrows the whole window."""
    from llmlab.chat.bot import DEFAULT_SYSTEM, ChatBot
    from llmlab.chat.context import fit_context, system_message
    from llmlab.generation import SamplingParams

    session = store.open("demo")
    session.remember(PINNED)
    bot = ChatBot(llm, session, system=DEFAULT_SYSTEM)
    answer = llm.context_window - min(prompt_room, llm.context_window // 2)
    talk = SamplingParams(temperature=0.8, top_p=0.95, max_new_tokens=answer, seed=seed)
    rng = random.Random(seed)
    users = [f"My locker code is {code}."]
    rows, plans = [], []
    while len(users) <= MAX_TURNS:
        text = users[-1]
        untrimmed = llm.count_chat_tokens(system_message(DEFAULT_SYSTEM, bot.session.facts)
                                          + bot.session.history() + [{"role": "user", "content": text}])
        bot.reply(text, talk)
        plans.append(bot.last_plan)
        rows.append({"turn": len(users), "untrimmed": untrimmed, "prompt": bot.last_plan.prompt_tokens,
                     "dropped_messages": len(bot.last_plan.dropped),
                     "memory_notes": len(bot.last_plan.memory_kept)})
        if untrimmed > llm.context_window and bot.last_plan.dropped:
            break
        users.append(f"Tell me about {rng.choice(TOPICS)}.")
    greedy = SamplingParams(temperature=0.0, max_new_tokens=answer)
    history = bot.session.history()
    without = fit_context(llm, DEFAULT_SYSTEM, history, QUESTION, answer)      # no memory at all
    answer_without = llm.chat(without.messages, greedy).text.strip()
    answer_with = bot.reply(QUESTION, greedy).strip()
    plans.append(bot.last_plan)
    users.append(QUESTION)
    return {"bot": bot, "rows": rows, "plans": plans, "users": users, "without": without,
            "answer_with": answer_with, "answer_without": answer_without}


def _run(ctx) -> dict:
    """The step as its list of steps; each returns what the checks and the summary read."""
    import torch

    torch.manual_seed(ctx.seed)
    lab = _build_lab_model(ctx)
    quant = _int8_against_float(ctx, lab["dir"])
    int8 = _int8_chat_model(lab["dir"])
    talk = _long_conversation(ctx, int8["llm"], lab["cfg"].block_size)
    reloaded, app = _reload_session_and_build_app(ctx, int8["llm"], talk["store"])
    fits = _defaults_fit(lab["dir"])
    gguf = _gguf_round_trip(ctx, lab["dir"])
    checks = _checks(int8, quant, talk, fits, reloaded, app, gguf)
    return _summary(lab, int8, quant, talk, fits, gguf, checks)


def _build_lab_model(ctx) -> dict:
    """Train the lab model at runs/roadmap/lab-model (a fresh training run each time), then measure how often
    it answers held-out memory questions exactly (dialogues like its training ones, another seed)."""
    import shutil

    from llmlab.chat.dialogues import docs_sentences
    from llmlab.chat.lab_model import LabModelConfig, build_lab_model, memory_accuracy
    from llmlab.data import load_corpus
    from llmlab.llm import load_llm

    lab_dir = lab_model_dir(ctx)
    cfg = LabModelConfig(seed=ctx.seed) if ctx.quick else LabModelConfig(seed=ctx.seed, max_steps=8000)
    shutil.rmtree(ctx.out / "lab-model-train", ignore_errors=True)
    trained = build_lab_model(lab_dir, cfg, train_dir=ctx.out / "lab-model-train")
    sentences = docs_sentences(load_corpus(cfg.corpus).text[:cfg.corpus_chars])
    held_out = memory_accuracy(load_llm(f"hf:{lab_dir}"), sentences, n=20, max_fillers=cfg.max_fillers,
                               max_prompt=cfg.block_size)
    return {"dir": lab_dir, "cfg": cfg, "trained": trained, "held_out": held_out}


def _int8_against_float(ctx, lab_dir) -> dict:
    """int8 logits and greedy tokens against the fp32 lab model (layer_errors.png); its parameter count."""
    from llmlab.chat.evaluate import compare_int8
    from llmlab.hub import load_causal_lm

    model, tokenizer = load_causal_lm(str(lab_dir), dtype="float32")
    params = sum(p.numel() for p in model.parameters())
    return {**compare_int8(model, tokenizer, out=ctx.out), "params": params}


def _int8_chat_model(lab_dir) -> dict:
    """The lab model quantised to int8 as `llmlab chat --quantize int8` loads it, and how much smaller its
    quantised layers are: 4 bytes a weight -> 1 byte a weight + 4 bytes a row (the scale)."""
    from llmlab.chat.loading import load_chat_llm

    llm, report = load_chat_llm(str(lab_dir), quantize="int8")
    shapes = [r.shape for r in report.layers]
    ratio = sum(4 * o * i for o, i in shapes) / sum(o * i + 4 * o for o, i in shapes)
    return {"llm": llm, "report": report, "layer_ratio": ratio}


def _long_conversation(ctx, llm, prompt_room: int) -> dict:
    """A fresh session and the conversation that outgrows the window (context_budget.png), with the locker
    code drawn from the seed and the notes of the last prompt that hold it."""
    import shutil

    from llmlab.chat.memory import ChatStore

    shutil.rmtree(ctx.out / "sessions", ignore_errors=True)      # a fresh conversation on every run
    store = ChatStore(ctx.out / "sessions")
    code = f"{random.Random(ctx.seed).randrange(10_000):04d}"
    talk = _conversation(llm, store, code, ctx.seed, prompt_room=prompt_room)
    budget = talk["plans"][0].budget
    _context_picture(talk["rows"], budget, llm.context_window, ctx.out / "context_budget.png")
    last = talk["plans"][-1]
    return {**talk, "store": store, "code": code, "last": last,
            "recalled": [note for note in last.memory_kept if code in note]}


def _reload_session_and_build_app(ctx, llm, store) -> tuple:
    """The session read back from disk, and the Gradio app built on it (not launched)."""
    from llmlab.chat.memory import ChatStore
    from llmlab.chat.ui import ChatUI

    return ChatStore(ctx.out / "sessions").open("demo"), ChatUI(llm, store).build("demo")


def _defaults_fit(lab_dir) -> dict[str, bool]:
    """default_fits through llmlab's engine (a bare directory), as `llmlab serve` runs the lab model."""
    from llmlab.llm import load_llm

    return default_fits(load_llm(str(lab_dir)))


def _gguf_round_trip(ctx, lab_dir) -> dict:
    """A Q8_0 GGUF of the lab model loaded back by transformers: its logits' distance from the float
    model's."""
    import torch

    from llmlab.chat.gguf_export import export_gguf
    from llmlab.hub import load_causal_lm
    from llmlab.llm import load_llm

    float_model, tokenizer = load_causal_lm(str(lab_dir), dtype="float32")
    gguf_file = export_gguf(lab_dir, ctx.out / "gguf" / "lab-model.Q8_0.gguf", "q8_0")
    gguf_llm = load_llm(f"gguf:{gguf_file}", runtime="transformers")
    ids = torch.tensor([tokenizer.encode("My name is Ada and my favourite colour is teal.")])
    with torch.no_grad():
        ref = float_model(ids).logits
        error = float((gguf_llm.model(ids).logits - ref).norm() / ref.norm())
    return {"relative_logit_error": error, "file": str(gguf_file)}


def _checks(int8, quant, talk, fits, reloaded, app, gguf) -> dict[str, bool]:
    llm, report, plans, last, code = int8["llm"], int8["report"], talk["plans"], talk["last"], talk["code"]
    session = talk["bot"].session
    return {
        "lab_model_window_at_least_1024": llm.context_window >= 1024,
        **{f"lab_model_{k}_defaults_fit": v for k, v in fits.items()},
        "int8_logits_close_to_float": quant["relative_logit_error"] < 0.06
                                      and quant["argmax_agreement"] >= 0.9,
        "int8_layers_4x_smaller": int8["layer_ratio"] > 3.5 and report.bytes_after < report.bytes_before,
        "conversation_longer_than_window": talk["rows"][-1]["untrimmed"] > llm.context_window,
        "context_trimmed_and_fits": all(p.prompt_tokens <= p.budget for p in plans),
        "system_first_newest_user_last": all(p.messages[0]["role"] == "system" and
                                             p.messages[-1] == {"role": "user", "content": t}
                                             for p, t in zip(plans, talk["users"], strict=True)),
        "fact_out_of_window": {"role": "user", "content": f"My locker code is {code}."} in last.dropped,
        "memory_put_fact_back": bool(talk["recalled"]) and f"- {PINNED}" in last.messages[0]["content"],
        # the code comes back only because memory put it in the prompt: copied exactly with memory, and
        # without memory the model says it does not know (it never saw the code)
        "with_memory_copies_the_code": talk["answer_with"] == f"Your locker code is {code}.",
        "without_memory_says_not_known": talk["answer_without"].startswith("I do not know")
                                         and code not in talk["answer_without"],
        "session_reloaded": reloaded.history() == session.history() and reloaded.facts == session.facts,
        "gradio_app_builds": type(app).__name__ == "Blocks",
        "gguf_q8_0_close_to_float": gguf["relative_logit_error"] < 0.06,
    }


def _summary(lab, int8, quant, talk, fits, gguf, checks) -> dict:
    llm, rows, code, last, held_out = int8["llm"], talk["rows"], talk["code"], talk["last"], lab["held_out"]
    copied = code in talk["answer_with"]
    return {
        "checks": checks,
        "headline": (f"lab model at {lab['dir']} ({quant['params'] / 1e3:.0f}k params, "
                     f"{llm.context_window}-token window, {lab['trained']['steps']} steps, "
                     f"{held_out['memory_accuracy']:.0%} of held-out memory questions and "
                     f"{held_out['locker_codes_copied']:.0%} of locker codes right); "
                     f"{len(talk['users'])} turns, {rows[-1]['untrimmed']} tokens in all, up to "
                     f"{max(r['dropped_messages'] for r in rows)} old messages trimmed; '{QUESTION}' with "
                     f"memory: '{talk['answer_with']}', without: '{talk['answer_without']}' (code {code}, "
                     f"{'copied' if copied else 'not copied'}); int8 layers {int8['layer_ratio']:.2f}x "
                     f"smaller, logits within {quant['relative_logit_error']:.2%}; Q8_0 GGUF within "
                     f"{gguf['relative_logit_error']:.2%}"),
        "pictures": ["context_budget.png", "layer_errors.png"],
        "model": [{"name": "lab model: Llama, BPE 1024, trained on copy drills + memory dialogues",
                   "params": quant["params"]}],
        "lab_model": {"path": str(lab["dir"]), "train": lab["trained"], "defaults_fit": fits, **held_out},
        "memory": {"code": code, "question": QUESTION, "code_copied": copied,
                   "answer_with_memory": talk["answer_with"],
                   "answer_without_memory": talk["answer_without"], "recalled_notes": talk["recalled"],
                   "prompt_without_memory": talk["without"].report(), "prompt_with_memory": last.report()},
        "turns": rows,
        "int8_layer_compression": int8["layer_ratio"],
        "int8": {k: v for k, v in quant.items() if k not in ("pictures", "params")},
        "gguf_q8_0_relative_logit_error": gguf["relative_logit_error"],
        "last_prompt_report": last.report(),
    }
