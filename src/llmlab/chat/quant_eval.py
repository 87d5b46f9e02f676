"""Every weight format of one model side by side: size on disk and in memory, held-out perplexity, KL against
fp32, top-1 agreement and CPU decode speed, as a table (table.md, summary.json) and a quality-vs-size picture.

    llmlab chat quantize --eval runs/roadmap/lab-model
    summary = evaluate_formats("runs/roadmap/lab-model", QuantEvalConfig(), out=Path("runs/chat/q"))

Text: the corpus (python-docs by default) is cut in four; GPTQ calibrates on token rows from the first quarter
and everything is measured on rows from the last (for the lab model, which trains on the first 300,000 of its
~465,000 characters, text it never saw). Formats: `fp32`, `int8` (quantize.py), `int4-g32-sym` ... (int4.py,
round to nearest), `gptq-g32-sym` ... (gptq.py), `awq-g32-sym` ... (awq.py), and `gguf-q8_0` / `gguf-q4_0` /
`gguf-q4_1` (written by gguf_export.py, read back by transformers' GGUF reader). The others quantise the
Linear layers and keep embeddings and the head float; GGUF quantises every 2-D tensor, embeddings included,
as llama.cpp's files do.
Memory is the bytes of the weights as held (GGUF: its tensors as llama.cpp maps them); disk is the file
written (safetensors, or the .gguf with its tokenizer). Speed is greedy decoding with transformers' KV cache
on `threads` threads, timed five times in turn with fp32 (`decode_speed`); GGUF files need llama.cpp for a
speed of their own, so theirs is blank.
Everything but the speed is deterministic: the same command gives the same table.
"""

from __future__ import annotations

import copy
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from llmlab.errors import LabError

DEFAULT_FORMATS = ("fp32", "int8",
                   "int4-g32-sym", "int4-g32-asym", "int4-g64-sym", "int4-g128-sym", "int4-g128-asym",
                   "gptq-g32-sym", "gptq-g32-asym", "gptq-g64-sym", "gptq-g128-sym", "gptq-g128-asym",
                   "awq-g32-sym", "awq-g32-asym", "awq-g128-sym", "awq-g128-asym",
                   "gguf-q8_0", "gguf-q4_0", "gguf-q4_1")
FORMAT_PATTERN = re.compile(r"fp32|int8|(int4|gptq|awq)-g(\d+)-(sym|asym)|gguf-(q8_0|q4_0|q4_1)")


@dataclass
class QuantEvalConfig:
    corpus: str = "python-docs"
    window: int = 128                 # tokens per row (perplexity and KL are measured within a row)
    eval_rows: int = 64               # held-out rows, from the corpus's last quarter
    calibration_rows: int = 32        # GPTQ's rows, from its first quarter
    decode_tokens: int = 64
    threads: int = 1                  # speed is measured on this many CPU threads
    damp: float = 0.01
    act_order: bool = True
    seed: int = 0
    formats: tuple[str, ...] = DEFAULT_FORMATS


def check_formats(formats: tuple[str, ...] | list[str]) -> None:
    for name in formats:
        if not FORMAT_PATTERN.fullmatch(name):
            raise LabError(f"unknown format {name!r}",
                           hint="use fp32, int8, int4-gG-sym|asym, gptq-gG-sym|asym, awq-gG-sym|asym "
                                "(G = 32, 64, 128) or gguf-q8_0|q4_0|q4_1")


def token_rows(tokenizer, cfg: QuantEvalConfig) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(calibration rows, held-out rows), each (1, window) of token ids, from the corpus's first and last
    quarters."""
    from llmlab.data import load_corpus

    text = load_corpus(cfg.corpus).text
    quarter = len(text) // 4

    def rows(part: str, n: int) -> list[torch.Tensor]:
        # at most ~8 characters a token: enough text for n rows without encoding the whole quarter
        ids = torch.tensor(tokenizer.encode(part[: n * cfg.window * 8]), dtype=torch.long)
        if len(ids) < n * cfg.window:
            raise LabError(f"the corpus gives {len(ids)} tokens, {n * cfg.window} needed",
                           hint="lower --eval-rows or use a larger --corpus")
        return list(ids[: n * cfg.window].reshape(n, 1, cfg.window))

    return rows(text[:quarter], cfg.calibration_rows), rows(text[-quarter:], cfg.eval_rows)


@dataclass
class Built:
    model: Any
    memory_bytes: int
    disk_bytes: int
    notes: str = ""
    speed: bool = True                # False: this process runs a float copy, not the format itself


def _disk_bytes(model, folder: Path) -> int:
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / "model.safetensors"))          # tied weights once, as save_pretrained does
    return (folder / "model.safetensors").stat().st_size


def build_format(name: str, model_dir: Path, float_model, calibration: list[torch.Tensor],
                 held_out: list[torch.Tensor], cfg: QuantEvalConfig, work: Path) -> Built:
    """One format of the float model: a quantised copy (or a GGUF file read back) with its sizes."""
    from llmlab.chat.quantize import quantize_model, weight_bytes

    match = FORMAT_PATTERN.fullmatch(name)
    if name == "fp32":
        model = float_model
    elif name == "int8":
        model = copy.deepcopy(float_model)
        quantize_model(model, kernel="int8pack")
    elif match.group(1):
        model = copy.deepcopy(float_model)
        group, symmetric = int(match.group(2)), match.group(3) == "sym"
        if match.group(1) == "int4":
            from llmlab.chat.int4 import quantize_model_int4

            quantize_model_int4(model, group, symmetric)
        else:
            return _build_compensated(match.group(1), model, float_model, calibration, held_out, group,
                                      symmetric, cfg, work / name)
    else:
        return _build_gguf(match.group(4), model_dir, float_model, work)
    return Built(model, weight_bytes(model), _disk_bytes(model, work / name))


def _build_compensated(method, model, float_model, calibration, held_out, group, symmetric, cfg,
                       work: Path) -> Built:
    """GPTQ or AWQ in place on `model`, and how often it beat round to nearest on each layer's output, on the
    calibration rows (what both minimise) and on held-out rows (what they should generalise to)."""
    from llmlab.chat.awq import awq_quantize_model
    from llmlab.chat.gptq import collect_hessians, gptq_quantize_model, output_error
    from llmlab.chat.int4 import dequantize_int4, int4_targets, linear_weight, quantize_int4
    from llmlab.chat.quantize import weight_bytes

    targets = int4_targets(float_model)
    unseen = collect_hessians(float_model, targets, held_out[:8])
    if method == "gptq":
        _, errors = gptq_quantize_model(model, calibration, group, symmetric, cfg.damp, cfg.act_order)
    else:
        _, errors = awq_quantize_model(model, calibration, group, symmetric)
    wins_unseen = 0
    for name in errors:
        weight = linear_weight(targets[name]).float()
        rtn = dequantize_int4(quantize_int4(weight, group, symmetric))
        ours = model.get_submodule(name).dequantized_weight()
        wins_unseen += output_error(weight, ours, unseen[name]) < output_error(weight, rtn, unseen[name])
    wins = sum(e[method] < e["rtn"] for e in errors.values())
    notes = (f"layer output error below round-to-nearest on {wins}/{len(errors)} layers (calibration), "
             f"{wins_unseen}/{len(errors)} (held-out)")
    if method == "awq":
        notes += "; α per layer " + " ".join(f"{e['alpha']:.2f}" for e in errors.values())
    return Built(model, weight_bytes(model), _disk_bytes(model, work), notes)


def _build_gguf(kind: str, model_dir: Path, float_model, work: Path) -> Built:
    import gguf
    from transformers import AutoModelForCausalLM

    from llmlab.chat.gguf_export import export_gguf

    path = export_gguf(model_dir, work / f"model.{kind}.gguf", kind)
    memory = sum(int(t.n_bytes) for t in gguf.GGUFReader(path).tensors)
    # transformers reads GGUF's context_length into GPT-2's n_ctx, not n_positions (the size of wpe)
    extra = {"n_positions": float_model.config.n_positions} if float_model.config.model_type == "gpt2" else {}
    with _quiet_stderr():          # transformers' own tqdm bar for the tensors, which no setting switches off
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, **extra).eval()
    return Built(model, memory, path.stat().st_size, "dequantised to fp32 by transformers' GGUF reader; "
                 "its speed needs llama.cpp (llama-cpp-python is not used here)", speed=False)


def _quiet_stderr():
    import contextlib
    import io

    from llmlab.console import verbose

    return contextlib.nullcontext() if verbose() else contextlib.redirect_stderr(io.StringIO())


@torch.no_grad()
def decode_speed(model, reference, prompt: torch.Tensor, new_tokens: int, repeats: int = 5
                 ) -> tuple[float, float]:
    """(greedy decoding tokens/s of `model`, its speed relative to `reference`), after a warm-up call each.
    Timed runs alternate between the two, so a machine that gets busier or quieter meanwhile slows both
    alike: the ratio is the median of the pairs' ratios, the tokens/s the fastest run (other programs on a
    shared machine only ever slow a run down)."""
    kwargs = dict(do_sample=False, pad_token_id=0, min_new_tokens=new_tokens, max_new_tokens=new_tokens)

    def seconds(m) -> float:
        start = time.perf_counter()
        m.generate(prompt, **kwargs)
        return time.perf_counter() - start

    for m in (model, reference):
        m.generate(prompt, **{**kwargs, "min_new_tokens": 4, "max_new_tokens": 4})
    pairs = [(seconds(reference), seconds(model)) for _ in range(repeats)]
    return new_tokens / min(t for _, t in pairs), statistics.median(r / t for r, t in pairs)


def evaluate_formats(model_dir: str | Path, cfg: QuantEvalConfig, out: Path, progress=None) -> dict[str, Any]:
    """Measure every format in cfg.formats against the fp32 model; write table.md and quality_vs_size.png."""
    import tempfile

    from llmlab.chat.quality import compare_to_reference, reference_logits
    from llmlab.hub import load_causal_lm

    check_formats(cfg.formats)
    model_dir = Path(model_dir)
    float_model, tokenizer = load_causal_lm(str(model_dir), dtype="float32")
    float_model.eval()
    family = float_model.config.model_type
    if any(f.startswith("gguf") for f in cfg.formats) and family not in ("llama", "gpt2"):
        raise LabError(f"GGUF is written here for Llama and GPT-2 models, not {family!r}",
                       hint="leave the gguf-* formats out of --formats")
    torch.manual_seed(cfg.seed)
    calibration, held_out = token_rows(tokenizer, cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        reference = reference_logits(float_model, held_out)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("fp32",) + tuple(f for f in cfg.formats if f != "fp32"):
                if progress:
                    progress(name)
                built = build_format(name, model_dir, float_model, calibration, held_out, cfg, Path(tmp))
                speed, ratio = (decode_speed(built.model, float_model, held_out[0][:, :16], cfg.decode_tokens)
                                if built.speed else (None, None))
                rows.append({"format": name, "memory_bytes": built.memory_bytes,
                             "disk_bytes": built.disk_bytes,
                             **compare_to_reference(built.model, held_out, reference),
                             "tokens_per_s": speed, "speed_vs_fp32": 1.0 if name == "fp32" else ratio,
                             "notes": built.notes})
    finally:
        torch.set_num_threads(threads)
    base = rows[0]
    for row in rows:                                   # same-run ratios against fp32
        row["memory_vs_fp32"] = row["memory_bytes"] / base["memory_bytes"]
    rows = [r for r in rows if r["format"] in cfg.formats]
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(format_table(rows) + "\n", encoding="utf-8")
    plot_quality_vs_size(rows, out / "quality_vs_size.png", title=f"{model_dir.name}: quality vs size")
    return {"model": str(model_dir), "config": asdict(cfg), "eval_tokens": cfg.eval_rows * cfg.window,
            "rows": rows, "pictures": ["quality_vs_size.png"], "table": "table.md"}


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (sizes in KiB, KL in nats)."""
    head = ("| format | disk KiB | memory KiB | memory vs fp32 | perplexity | KL mean | KL p99 | top-1 | "
            "tokens/s | speed vs fp32 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        speed = "—" if r["tokens_per_s"] is None else f"{r['tokens_per_s']:.0f}"
        ratio = "—" if r["speed_vs_fp32"] is None else f"{r['speed_vs_fp32']:.2f}x"
        lines.append(f"| {r['format']} | {r['disk_bytes'] / 1024:,.0f} | {r['memory_bytes'] / 1024:,.0f} | "
                     f"{r['memory_vs_fp32']:.3f} | {r['perplexity']:.3f} | {r['kl_mean']:.5f} | "
                     f"{r['kl_p99']:.4f} | {r['top1_agreement'] * 100:.1f}% | {speed} | {ratio} |")
    return "\n".join(lines)


def plot_quality_vs_size(rows: list[dict[str, Any]], path: Path, title: str = "quality vs size") -> Path:
    """Left: mean KL against fp32 (log scale) over weight memory, one point per format. Right: every
    format's mean KL (bar) and p99 KL (tick), best first, where formats of one size would overlap."""
    import matplotlib.pyplot as plt

    from llmlab.plots import save_figure

    families = {"fp32": "black", "int8": "tab:blue", "int4": "tab:orange", "gptq": "tab:green",
                "awq": "tab:red", "gguf": "tab:purple"}
    shown = [r for r in rows if r["format"] != "fp32"]       # KL 0: off a log scale; its size is x = 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), dpi=110,
                                      gridspec_kw={"width_ratios": [1, 1.1]})
    for r in shown:
        family = r["format"].split("-")[0]
        left.scatter(r["memory_vs_fp32"], max(r["kl_mean"], 1e-9), color=families[family], s=22, label=family)
    handles, labels = left.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    left.legend(unique.values(), unique.keys(), fontsize=8)
    left.set(title=title, xlabel="weight memory / fp32's", ylabel="mean KL(fp32 || format), nats")
    left.set_yscale("log")
    left.grid(alpha=0.3)
    ordered = sorted(shown, key=lambda r: r["kl_mean"])
    ys = range(len(ordered))
    right.barh(ys, [max(r["kl_mean"], 1e-9) for r in ordered],
               color=[families[r["format"].split("-")[0]] for r in ordered])
    right.scatter([max(r["kl_p99"], 1e-9) for r in ordered], ys, marker="|", color="black", s=60, label="p99")
    right.set_yticks(list(ys), [f"{r['format']} ({r['memory_vs_fp32']:.2f}x)" for r in ordered], fontsize=7)
    right.invert_yaxis()
    right.set_xscale("log")
    right.set(title="KL per format (memory vs fp32)", xlabel="KL, nats: bar = mean, | = p99")
    right.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return save_figure(fig, path)
