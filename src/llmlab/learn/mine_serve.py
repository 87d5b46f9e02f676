"""`llmlab learn run serve --mine`: llmlab's engine serving requests on the learner's allocator, prefix hash
and scheduler, then streaming through the OpenAI-compatible API with their SSE encoder, beside HF's greedy
`generate`.

The model is a tiny random GPT-2 (2 layers, width 64, llmlab's character tokenizer) written into the run
folder. The cache is kept small (24 blocks of 4 tokens) and the step budget low (16 tokens), so prompts are
prefilled in chunks, share cached prefix blocks, evict each other and get preempted: every path of the pieces
runs. Each completion must equal transformers' greedy tokens, with the learner's pieces as with llmlab's.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from unittest import mock

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "allocator": [("llmlab.serve.engine", "BlockAllocator", "BlockAllocator")],
    "prefix_hash": [("llmlab.serve.block_tables", "prefix_hash", "prefix_hash")],
    "scheduler": [("llmlab.serve.engine", "Scheduler", "Scheduler")],
    "sse": [("llmlab.serve.api", "_sse", "sse_event")],
}
SHARED = "The quick brown fox jumps over the lazy dog. "
PROMPTS = [SHARED + tail for tail in ("Pack my box", "Five dozen", "héllo wörld", "0123456789")] + \
    ["Pack my box with five dozen liquor jugs! Pack my box again", "naïve café", SHARED, "A"]
NEW_TOKENS, STREAMED = 12, 3
ENGINE = {"num_blocks": 24, "block_size": 4, "max_batched_tokens": 16, "max_num_seqs": 4}


@contextlib.contextmanager
def learner_pieces(modules: dict):
    import importlib

    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def hf_greedy(model_dir: Path, prompts: list[list[int]], n: int) -> list[list[int]]:
    import torch
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    out = []
    with torch.no_grad():
        for ids in prompts:
            seq = hf.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=None,
                              pad_token_id=0, attention_mask=torch.ones(1, len(ids), dtype=torch.long))
            out.append(seq[0, len(ids):].tolist())
    return out


def serve(model_dir: Path, prompts: list[str]) -> dict:
    """Every prompt through Engine.generate at once, then the first STREAMED again, streamed through the
    API."""
    from openai import OpenAI

    from llmlab.generation import SamplingParams
    from llmlab.serve.config import EngineConfig
    from llmlab.serve.engine import Engine
    from llmlab.serve.server import BackgroundServer

    engine = Engine(EngineConfig(model=str(model_dir), device="cpu", **ENGINE))
    done = engine.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=NEW_TOKENS),
                           ignore_eos=True)
    allocator = engine.allocator
    stats = {"tokens": [c.token_ids for c in done], "cached": sum(c.cached_tokens for c in done),
             "preemptions": engine.scheduler.preemptions, "evictions": allocator.evictions,
             "in_use_after": allocator.num_in_use, "steps": engine.steps}
    with BackgroundServer(engine, model_name="tiny") as server:
        client = OpenAI(base_url=server.url + "/v1", api_key="unused")
        stats["streamed"] = ["".join(chunk.choices[0].text for chunk in client.completions.create(
            model="tiny", prompt=p, max_tokens=NEW_TOKENS, temperature=0, stream=True,
            extra_body={"ignore_eos": True}))
            for p in prompts[:STREAMED]]
    return stats


def run_serve(folder: Path, modules: dict, seed: int = 0, log=print) -> dict:
    from transformers import AutoTokenizer

    from llmlab.console import quiet_libraries
    from llmlab.learn.mine_transformer import new_run_dir
    from llmlab.serve.random_model import make_model_dir

    out = new_run_dir(folder)
    quiet_libraries()             # transformers' bars for a 2-layer model would bury the table
    model_dir = make_model_dir(out / "model", family="gpt2", n_layer=2, n_embd=64, seed=seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    ids = [list(tok.encode(p)) for p in PROMPTS]
    expected = hf_greedy(model_dir, ids, NEW_TOKENS)
    reference = serve(model_dir, PROMPTS)
    with learner_pieces(modules):
        mine = serve(model_dir, PROMPTS)
    texts = [tok.decode(t) for t in expected[:STREAMED]]
    return {"hf": expected, "reference": reference, "mine": mine, "hf_streamed": texts, "folder": str(out),
            "prompt_tokens": [len(i) for i in ids],
            "same_as_hf": sum(a == b for a, b in zip(mine["tokens"], expected, strict=True)),
            "streams_same": sum(a == b for a, b in zip(mine["streamed"], texts, strict=True))}


def run_mine(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print) -> str:
    """Print each completion beside HF's and the cache's figures; return the tracker's note. (`steps` is
    unused.)"""
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    log(f"{len(PROMPTS)} prompts, {NEW_TOKENS} greedy tokens each, on a tiny random GPT-2; the engine: "
        f"{ENGINE['num_blocks']} blocks of {ENGINE['block_size']} tokens, {ENGINE['max_batched_tokens']} "
        f"tokens a "
        f"step, at most {ENGINE['max_num_seqs']} requests; your pieces: {pieces}")
    r = run_serve(folder, modules, seed=seed, log=log)
    mine, ref = r["mine"], r["reference"]
    log(f"{'#':>2} {'prompt':>6}  {'your engine = HF generate':<26} first tokens")
    for i, (got, hf) in enumerate(zip(mine["tokens"], r["hf"], strict=True)):
        log(f"{i:>2} {r['prompt_tokens'][i]:>6}  {'same' if got == hf else 'DIFFERS':<26} {got[:8]}"
            + ("" if got == hf else f"  (HF: {hf[:8]})"))
    log(f"{'':>10}{'yours':>10}{'llmlab':>10}")
    for key, label in (("steps", "steps"), ("cached", "cached tokens"), ("evictions", "evictions"),
                       ("preemptions", "preemptions"), ("in_use_after", "blocks held at the end")):
        log(f"{label:<22}{mine[key]:>8}{ref[key]:>10}")
    log(f"streamed through the API (OpenAI client, stream=True): {r['streams_same']}/{STREAMED} texts equal "
        f"HF's")
    log(f"model and runs: {r['folder']}")
    return (f"run --mine (mine: {pieces}): {r['same_as_hf']}/{len(PROMPTS)} completions equal HF's greedy "
            f"generate, "
            f"{r['streams_same']}/{STREAMED} streams; {mine['cached']} cached tokens, {mine['preemptions']} "
            f"preemptions")
