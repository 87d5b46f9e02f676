"""`llmlab transformer train | sample | check`: the NumPy Transformer from the command line.

    llmlab transformer train --preset tiny                   # python-docs characters, under a minute
    llmlab transformer train --preset shakespeare-char --set max_steps=500
    llmlab transformer sample --model runs/transformer/<run>/model --prompt "def " --top-k 20
    llmlab transformer check --json                          # gradient checks and parity with transformers
    llmlab transformer check --arch qwen3                    # the same for Llama, Qwen2 or Qwen3 models
    llmlab transformer sample --model HuggingFaceTB/SmolLM2-135M --prompt "The"   # any gpt2/llama/qwen folder
"""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.console import console, print_summary

app = typer.Typer(help="Project 1: a GPT-2-style Transformer written in NumPy — train, sample, check.",
                  no_args_is_help=True)


@app.command("train")
def train_command(
        preset: str = typer.Option("small", "--preset", help="tiny | small | shakespeare-char"),
        corpus: str = typer.Option(None, "--corpus",
                                   help="python-docs (default) | tinyshakespeare | python-stdlib | PATH"),
        overrides: list[str] = typer.Option(None, "--set",
                                            help="key=value, e.g. --set n_layer=6 --set arch=llama"),
        out: Path = typer.Option(None, "--out", help="run folder (default runs/transformer/<name>)"),
        name: str = typer.Option(None, "--name", help="run name under runs/transformer/"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace the run in the run folder"),
        as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Train a character-level GPT in NumPy; writes metrics, loss.png, a sample and a HF model folder."""
    from llmlab.config import apply_overrides
    from llmlab.numpy_transformer.train import preset as get_preset
    from llmlab.numpy_transformer.train import train
    from llmlab.runs import RunFolder

    run = RunFolder.start("transformer", name=name or preset, out=out, overwrite=overwrite)
    cfg = get_preset(preset)
    if corpus:
        cfg.corpus = corpus
    cfg = apply_overrides(cfg, overrides)
    summary = train(cfg, run,
                    log=lambda m: None if as_json else console.print(m, markup=False, highlight=False))
    sample = summary.pop("sample")
    print_summary(summary, as_json=as_json, title=f"transformer train ({run.path})")
    if not as_json:
        console.print("[bold]sample[/bold]")
        console.print(cfg.sample_prompt + sample, markup=False, highlight=False)


@app.command("compare")
def compare_command(
        preset: str = typer.Option("small", "--preset", help="tiny | small | shakespeare-char"),
        corpus: str = typer.Option(None, "--corpus", help="python-docs (default) | tinyshakespeare | PATH"),
        overrides: list[str] = typer.Option(None, "--set", help="key=value, e.g. --set max_steps=500"),
        out: Path = typer.Option(None, "--out", help="run folder (default runs/transformer/compare-PRESET)"),
        name: str = typer.Option(None, "--name", help="run name under runs/transformer/"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace the run in the run folder"),
        as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Train GPT-2 style and Llama style (same loop, data, steps, parameters): both curves in one picture."""
    from llmlab.config import apply_overrides
    from llmlab.numpy_transformer.llama_training import compare_architectures
    from llmlab.numpy_transformer.train import preset as get_preset
    from llmlab.runs import RunFolder

    cfg = get_preset(preset)
    if corpus:
        cfg.corpus = corpus
    cfg = apply_overrides(cfg, overrides).validate()
    run = RunFolder.start("transformer", name=name or f"compare-{preset}", out=out, overwrite=overwrite)
    summary = compare_architectures(cfg, run,
                                    log=lambda m: None if as_json else console.print(m, markup=False))
    print_summary(summary, as_json=as_json, title=f"transformer compare ({run.path})")


@app.command("sample")
def sample_command(
        # str, not Path: Path("./nope") would lose the "./" that marks a local folder
        model: str = typer.Option(..., "--model",
                                  help="a folder written by `train`, or any GPT-2, Llama, Qwen2, Qwen3 one"),
        prompt: str = typer.Option("\n", "--prompt"),
        max_new_tokens: int = typer.Option(300, "--max-new-tokens"),
        temperature: float = typer.Option(0.8, "--temperature", help="0 = greedy"),
        top_k: int = typer.Option(0, "--top-k", help="0 = off"),
        top_p: float = typer.Option(1.0, "--top-p", help="1.0 = off"),
        repetition_penalty: float = typer.Option(1.0, "--repetition-penalty", help="1.0 = off"),
        stop: list[str] = typer.Option(None, "--stop", help="stop before this string (repeatable)"),
        num_samples: int = typer.Option(1, "--num-samples"),
        seed: int = typer.Option(None, "--seed"),
        dtype: str = typer.Option("float32", "--dtype", help="float32 | float64"),
        as_json: bool = typer.Option(False, "--json")) -> None:
    """Generate text with the KV cache, sampling through llmlab.generation."""
    from llmlab.generation import SamplingParams
    from llmlab.numpy_transformer.blas import auto_threads, blas_threads
    from llmlab.numpy_transformer.families import load_model
    from llmlab.numpy_transformer.sampling import sample_text

    net = load_model(model, dtype=dtype)
    tokenizer = _tokenizer_for(model)
    params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p, max_new_tokens=max_new_tokens,
                            repetition_penalty=repetition_penalty, stop=tuple(stop or ()), seed=seed)
    with blas_threads(auto_threads(net.config.n_embd)):
        texts = sample_text(net, tokenizer, prompt, params, num_samples=num_samples)
    if as_json:
        print_summary({"prompt": prompt, "samples": texts}, as_json=True)
        return
    for i, text in enumerate(texts):
        if num_samples > 1:
            console.rule(f"sample {i + 1}")
        console.print(prompt + text, markup=False, highlight=False)


def _tokenizer_for(model: str | Path):
    """The llmlab tokenizer saved with the model, else the folder's Hugging Face tokenizer."""
    from llmlab.errors import LabError
    from llmlab.tokenizer.base import META_FILE, load_tokenizer

    if (Path(model) / META_FILE).exists():
        return load_tokenizer(model)
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(model))
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        raise LabError(f"{model} has no tokenizer ({type(exc).__name__})",
                       hint="sample from a folder written by `llmlab transformer train`, or add tokenizer "
                            "files") from None


@app.command("check")
def check_command(
        out: Path = typer.Option(None, "--out",
                                 help="where summary.json goes (default runs/transformer/check[-ARCH])"),
        seed: int = typer.Option(0, "--seed"),
        arch: str = typer.Option("gpt2", "--arch", help="gpt2 | llama | qwen2 | qwen3"),
        as_json: bool = typer.Option(False, "--json", help="print the results as JSON")) -> None:
    """Gradient checks (finite differences, PyTorch autograd) and parity with transformers' own class."""
    from rich.table import Table

    from llmlab.errors import LabError
    from llmlab.numpy_transformer.families import FAMILIES
    from llmlab.runs import RunFolder

    if arch == "gpt2":
        from llmlab.numpy_transformer.gradcheck import layer_gradient_checks
        from llmlab.numpy_transformer.reference import reference_checks

        rows = layer_gradient_checks(seed) + reference_checks(seed)
    elif arch in FAMILIES:
        from llmlab.numpy_transformer.llama_gradcheck import llama_gradient_checks
        from llmlab.numpy_transformer.llama_reference import llama_reference_checks

        rows = llama_gradient_checks(seed) + llama_reference_checks(arch, seed)
    else:
        raise LabError(f"unknown --arch {arch!r}", hint="use gpt2, " + ", ".join(FAMILIES))
    passed = all(r["passed"] for r in rows)
    run = RunFolder.create("transformer", name="check" if arch == "gpt2" else f"check-{arch}", out=out)
    summary = {"passed": passed, "checks": {r["check"]: r["passed"] for r in rows}, "rows": rows}
    run.save_summary(summary)
    if as_json:
        print_summary(summary, as_json=True)
    else:
        table = Table(title=f"NumPy Transformer checks ({arch})")
        for column in ("check", "error", "tolerance", "result"):
            table.add_column(column, justify="left" if column == "check" else "right")
        for r in rows:
            table.add_row(r["check"], f"{r['value']:.2e}", f"{r['tolerance']:.0e}",
                          "[green]pass[/green]" if r["passed"] else "[red]FAIL[/red]")
        console.print(table)
    if not passed:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Plug `llmlab transformer ...` into the root command."""
    root.add_typer(app, name="transformer")
