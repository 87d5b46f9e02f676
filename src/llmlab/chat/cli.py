"""`llmlab chat ...`: the local chatbot in a browser or a terminal, saved sessions, and int8 quantisation.

    llmlab chat ui --model hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0 --quantize int8 [--port 7860]
    llmlab chat repl --model runs/pretrain/tiny --session notes
    llmlab chat list
    llmlab chat quantize --model hf:gpt2 --json        # int8 vs float: weight bytes, logit error, greedy text
    llmlab chat quantize --eval runs/roadmap/lab-model # every format: size, perplexity, KL, top-1, speed
    llmlab chat export-gguf --model DIR --out tiny.Q8_0.gguf   # a Llama-family model dir for llama.cpp
    llmlab chat repl --model gguf:tiny.Q8_0.gguf --opt n_ctx=2048 --opt runtime=transformers
"""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.flags import option
from llmlab.llm.registry import SPEC_HELP

app = typer.Typer(help="Local chatbot: int8 or GGUF models, a Gradio UI and a REPL with memory and context "
                       "logic.", no_args_is_help=True)

QUANT_HELP = "int8: llmlab's own weight-only int8 (transformers models); none: as loaded"
SUMMARY_HELP = ("keep a running summary of trimmed turns, written by the model (one extra call when a turn "
                "trims)")
OPT_HELP = "a backend option key=value, repeatable (gguf: n_ctx=4096, n_gpu_layers=-1, runtime=transformers)"


def _llm(model: str, quantize: str, device: str, opts: list[str] | None = None):
    from llmlab.chat.loading import load_chat_llm
    from llmlab.console import err_console
    from llmlab.llm.registry import parse_options

    options = parse_options(opts)
    if "device" in options:
        from llmlab.errors import LabError

        raise LabError("the device is chosen with --device, not --opt device=...",
                       hint=f"--device {options['device']}")
    llm, report = load_chat_llm(model, quantize=quantize, device=device, **options)
    if report is not None:
        err_console.print(f"int8: {len(report.layers)} layers, weights {report.bytes_before / 2**20:.1f} MiB "
                          f"-> {report.bytes_after / 2**20:.1f} MiB ({report.compression:.2f}x)")
    return llm


@app.command()
def ui(model: str = typer.Option(..., "--model", help=SPEC_HELP),
       quantize: str = typer.Option("none", "--quantize", help=QUANT_HELP),
       device: str = typer.Option("cpu", "--device"),
       session: str = typer.Option(None, "--session", help="open this saved session first"),
       system: str = typer.Option(None, "--system", help="system prompt (default: the session's saved one, "
                                                        "or a short helpful one for a new session)"),
       host: str = typer.Option("127.0.0.1", "--host", help="0.0.0.0 to reach it from other machines"),
       port: int = typer.Option(7860, "--port"),
       share: bool = typer.Option(False, "--share", help="a public gradio.live link (needs a network)"),
       opt: list[str] = typer.Option(None, "--opt", help=OPT_HELP),
       summarize: bool = typer.Option(False, "--summarize", help=SUMMARY_HELP)) -> None:
    """A Gradio chat: streaming, temperature/top-p/max tokens, a context meter, sessions and facts."""
    from llmlab.chat.ui import ChatUI
    from llmlab.console import verbose
    from llmlab.runs import check_name

    if session:
        check_name(session, "session name")      # before the model loads
    chat = ChatUI(_llm(model, quantize, device, opt), system=system, summarize=summarize)
    blocks = chat.build(session).queue()
    # Gradio's own lines tell the user to edit launch(share=True); quiet, it is our line that names --share
    blocks.launch(server_name=host, server_port=port, share=share, quiet=not verbose(),
                  prevent_thread_lock=True)
    print(f"chat UI on {blocks.local_url}" + ("" if share else " (--share for a public gradio.live link)"),
          flush=True)
    blocks.block_thread()


@app.command()
def repl(model: str = typer.Option(..., "--model", help=SPEC_HELP),
         quantize: str = typer.Option("none", "--quantize", help=QUANT_HELP),
         device: str = typer.Option("cpu", "--device"),
         session: str = typer.Option(None, "--session", help="resume (or start) this session by name"),
         system: str = typer.Option(None, "--system"),
         temperature: float = typer.Option(0.7, "--temperature"),
         top_p: float = typer.Option(0.95, "--top-p"),
         max_new_tokens: int = option(None, "--max-new-tokens", old=["--max-tokens"],
                                      help="answer length at most "
                                           "[default: 256, or a quarter of a smaller window]"),
         seed: int = typer.Option(None, "--seed"),
         opt: list[str] = typer.Option(None, "--opt", help=OPT_HELP),
         summarize: bool = typer.Option(False, "--summarize", help=SUMMARY_HELP)) -> None:
    """Chat in the terminal; answers stream; /help lists the commands; everything is saved as you go."""
    from llmlab.chat.bot import ChatBot
    from llmlab.chat.memory import ChatStore
    from llmlab.chat.repl import run_repl
    from llmlab.generation import SamplingParams
    from llmlab.runs import check_name

    if session:
        check_name(session, "session name")      # before the model loads
    llm = _llm(model, quantize, device, opt)
    if max_new_tokens is None:     # as the UI's slider starts: a small window must leave room for the chat
        max_new_tokens = min(256, max(1, llm.context_window // 4))
    bot = ChatBot(llm, ChatStore().open(session, system=system), system, summarize=summarize)
    run_repl(bot, SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                                 seed=seed))


@app.command("list")
def list_sessions(as_json: bool = typer.Option(False, "--json")) -> None:
    """The saved sessions (runs/chat/<name>/), most recent first."""
    import json

    from rich.table import Table

    from llmlab.chat.memory import ChatStore
    from llmlab.console import console

    rows = ChatStore().list()
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    if not rows:
        console.print("no saved sessions yet (llmlab chat repl --model ... --session NAME starts one)")
        return
    good = [r for r in rows if "error" not in r]
    if good:
        table = Table(title=f"sessions in {ChatStore().root}")
        for key in good[0]:
            table.add_column(key)
        for row in good:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    for row in rows:
        if "error" in row:
            console.print(f"[red]{row['name']}: cannot be read[/red] — {row['error']}", markup=True)


@app.command()
def quantize(model: str = typer.Option(None, "--model", help="hf:NAME_OR_DIR or a model directory"),
             text: str = typer.Option(None, "--text", help="the text the logits are compared on"),
             kernel: str = typer.Option("int8pack", "--kernel",
                                        help="int8pack (fast, bf16 activations) or dequant"),
             lm_head: bool = typer.Option(False, "--lm-head", help="quantise the output head too"),
             embeddings: bool = typer.Option(False, "--embeddings", help="quantise the input embeddings too"),
             out: Path = typer.Option(None, "--out", help="run folder (default runs/chat/quantize-<time>)"),
             as_json: bool = typer.Option(False, "--json"),
             eval_dir: Path = typer.Option(None, "--eval", help="a model directory: measure every weight "
                                           "format of it side by side (fp32, int8, int4, GPTQ, AWQ, GGUF)"),
             formats: str = typer.Option(None, "--formats", help="with --eval: comma-separated formats "
                                         "(default: all of them)"),
             corpus: str = typer.Option("python-docs", "--corpus", help="with --eval: calibration and "
                                        "held-out text (first and last quarter)"),
             eval_rows: int = typer.Option(64, "--eval-rows",
                                           help="with --eval: held-out rows of 128 tokens"),
             threads: int = typer.Option(1, "--threads", help="with --eval: CPU threads for the speed"),
             decode_tokens: int = typer.Option(64, "--decode-tokens",
                                               help="with --eval: tokens per timed decode")) -> None:
    """Quantise a model to int8 and measure it against the float model (bytes, logit error, greedy text);
    with --eval DIR, every format side by side against fp32."""
    import time

    if eval_dir is not None:
        _quant_eval(eval_dir, formats, corpus, eval_rows, threads, decode_tokens, out, as_json)
        return
    if model is None:
        from llmlab.errors import LabError

        raise LabError("chat quantize needs --model (int8 against float) or --eval DIR (every format)",
                       hint="llmlab chat quantize --eval runs/roadmap/lab-model")

    from llmlab.chat.evaluate import SAMPLE, compare_int8
    from llmlab.chat.quantize import KERNELS
    from llmlab.console import print_summary
    from llmlab.hub import load_causal_lm
    from llmlab.llm import parse_spec
    from llmlab.runs import RunFolder

    kind, target = parse_spec(model) if ":" in model else ("hf", model)
    if kind not in ("hf", "engine"):
        from llmlab.errors import LabError

        raise LabError(f"int8 quantisation needs a transformers model, not {kind}:",
                       hint="give hf:NAME or a model directory")
    if kernel not in KERNELS:
        from llmlab.errors import LabError

        raise LabError(f"unknown int8 kernel {kernel!r}", hint=f"use one of {', '.join(KERNELS)}")
    # before the run folder: a bad name leaves none
    float_model, tokenizer = load_causal_lm(target, dtype="float32")
    run = RunFolder.create("chat", name=time.strftime("quantize-%Y%m%d-%H%M%S"), out=out)
    run.save_config({"model": target, "kernel": kernel, "lm_head": lm_head, "embeddings": embeddings,
                     "text": text or SAMPLE})
    summary = {"model": target, **compare_int8(float_model, tokenizer, text or SAMPLE, run.path, kernel,
                                               lm_head=lm_head, embeddings=embeddings)}
    run.save_summary(summary)
    print_summary(summary, as_json, title=f"int8 {target}")


def _quant_eval(model_dir: Path, formats: str | None, corpus: str, eval_rows: int, threads: int,
                decode_tokens: int, out: Path | None, as_json: bool) -> None:
    import json
    import time
    from dataclasses import asdict

    from llmlab.chat.quant_eval import DEFAULT_FORMATS, QuantEvalConfig, check_formats, evaluate_formats
    from llmlab.console import console, err_console
    from llmlab.runs import RunFolder

    chosen = tuple(f.strip() for f in formats.split(",") if f.strip()) if formats else DEFAULT_FORMATS
    check_formats(chosen)                             # before any model loads or folder appears
    cfg = QuantEvalConfig(corpus=corpus, eval_rows=eval_rows, threads=threads, decode_tokens=decode_tokens,
                          formats=chosen)
    run = RunFolder.start("chat", name=time.strftime("quant-eval-%Y%m%d-%H%M%S"), out=out)
    run.save_config({"model": str(model_dir), **asdict(cfg)})
    summary = evaluate_formats(model_dir, cfg, run.path,
                               progress=lambda name: err_console.print(f"measuring {name} ..."))
    run.save_summary(summary)
    if as_json:
        print(json.dumps(summary, indent=1, default=str))
        return
    print((run.path / "table.md").read_text(encoding="utf-8"), end="")      # unwrapped: it is Markdown
    console.print(f"table.md, quality_vs_size.png and summary.json in {run.path}")


@app.command("export-gguf")
def export_gguf_command(model: str = typer.Option(..., "--model",
                                                  help="a Llama-family or GPT-2 model directory"),
                        out: Path = typer.Option(..., "--out", help="the .gguf file to write"),
                        kind: str = typer.Option("q8_0", "--type", help="f32, f16, q8_0 (llama.cpp's int8), "
                                                 "q4_0 or q4_1 (its int4)")) -> None:
    """Write a Llama or GPT-2 model directory as a GGUF file that llama.cpp (and gguf: in llmlab) can run."""
    from llmlab.chat.gguf_export import export_gguf
    from llmlab.console import console

    path = export_gguf(model.removeprefix("hf:"), out, kind)
    console.print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB, {kind})")


def register(root: typer.Typer) -> None:
    """Plug `llmlab chat ...` into the root command."""
    root.add_typer(app, name="chat")
