"""Which structured-generation library the engine uses: per-step mask cost and JSON-schema coverage, measured.

    .venv/bin/python benchmarks/structured_libs.py [--vocab 8000] [--steps 200]
    .venv/bin/python benchmarks/structured_libs.py --engine    # the engine's cost per step, with llguidance

For each of xgrammar, llguidance and outlines-core that is importable: compile time per schema, the time to
compute one step's allowed-token mask and advance by one token (library calls only; a random walk
through allowed tokens on a byte-level BPE trained on the embedded Python docs), and which schema
features it compiles. The engine's
choice and the figures are in docs/serve.md and docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import random
import time

SCHEMAS = {
    "object+required": {"type": "object", "required": ["name", "age"],
                        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}},
    "enum": {"type": "object", "properties": {"c": {"enum": ["red", "green", 3]}}, "required": ["c"]},
    "array min/max": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3},
    "string pattern": {"type": "object",
                       "properties": {"id": {"type": "string", "pattern": "^[a-z]{2}[0-9]+$"}}},
    "string length": {"type": "object",
                      "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 5}}},
    "anyOf": {"anyOf": [{"type": "integer"}, {"type": "object", "properties": {"x": {"type": "boolean"}}}]},
    "$ref/$defs": {"$defs": {"p": {"type": "object", "properties": {"x": {"type": "number"}},
                                   "required": ["x"]}},
                   "type": "object", "properties": {"a": {"$ref": "#/$defs/p"}}, "required": ["a"]},
    "recursive $ref": {"$defs": {"n": {"type": "object", "properties": {
        "kids": {"type": "array", "items": {"$ref": "#/$defs/n"}}}}}, "$ref": "#/$defs/n"},
    "format date": {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}},
    "integer min/max": {"type": "object",
                        "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 99}}},
    "additionalProperties schema": {"type": "object", "additionalProperties": {"type": "integer"}},
    "nullable type list": {"type": "object", "properties": {"v": {"type": ["string", "null"]}}},
    "const": {"type": "object", "properties": {"k": {"const": "fixed"}}, "required": ["k"]},
    "any JSON": {},
}


def tokenizer(vocab: int):
    import pydoc_data.topics as topics

    from llmlab.serve.random_model import byte_bpe_tokenizer
    return byte_bpe_tokenizer("\n".join(topics.topics.values()), vocab)


class Llguidance:
    name = "llguidance"

    def __init__(self, tok):
        import llguidance.hf
        import llguidance.torch as lt
        self.lt, self.ll = lt, llguidance
        self.tok = llguidance.hf.from_tokenizer(tok)
        self.mask = lt.allocate_token_bitmask(1, self.tok.vocab_size)

    def compile(self, schema):
        grammar = self.ll.LLMatcher.grammar_from_json_schema(json.dumps(schema))
        m = self.ll.LLMatcher(self.tok, grammar)
        if m.is_error():
            raise ValueError(m.get_error())
        return m

    def step(self, m, rng):
        t0 = time.perf_counter()
        self.lt.fill_next_token_bitmask(m, self.mask, 0)
        spent = time.perf_counter() - t0
        t = rng.choice(_bits(self.mask[0], self.tok.vocab_size))
        t0 = time.perf_counter()
        m.consume_token(t)
        spent += time.perf_counter() - t0
        return spent, m.is_stopped() or m.is_accepting() and rng.random() < 0.05


class Xgrammar:
    name = "xgrammar"

    def __init__(self, tok):
        import xgrammar as xgr
        self.xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
        self.compiler = xgr.GrammarCompiler(self.info, cache_enabled=False)
        self.mask = xgr.allocate_token_bitmask(1, self.info.vocab_size)

    def compile(self, schema):
        return self.xgr.GrammarMatcher(self.compiler.compile_json_schema(json.dumps(schema)))

    def step(self, m, rng):
        t0 = time.perf_counter()
        m.fill_next_token_bitmask(self.mask)
        spent = time.perf_counter() - t0
        t = rng.choice(_bits(self.mask[0], self.info.vocab_size))
        t0 = time.perf_counter()
        m.accept_token(t)
        spent += time.perf_counter() - t0
        return spent, m.is_terminated() or rng.random() < 0.02


class OutlinesCore:
    name = "outlines-core"

    def __init__(self, tok):
        from outlines_core import Vocabulary
        eos = tok.eos_token_id
        tokens = {}
        for s, i in tok.get_vocab().items():
            if i != eos:
                tokens.setdefault(s, []).append(i)
        self.vocab = Vocabulary(eos, tokens)

    def compile(self, schema):
        from outlines_core import Guide, Index
        from outlines_core.json_schema import build_regex_from_schema
        return Guide(Index(build_regex_from_schema(json.dumps(schema)), self.vocab))

    def step(self, g, rng):
        # outlines-core hands out the allowed ids as a list: turning it into a mask is part of its cost
        t0 = time.perf_counter()
        allowed = list(g.get_tokens())
        spent = time.perf_counter() - t0
        t = rng.choice(allowed)
        t0 = time.perf_counter()
        g.advance(t)
        spent += time.perf_counter() - t0
        return spent, g.is_finished() or rng.random() < 0.02


def _bits(row, vocab: int) -> list[int]:
    import torch
    bits = ((row.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1).flatten()[:vocab]
    return bits.nonzero().flatten().tolist()


def measure(lib, steps: int) -> dict:
    rng = random.Random(0)
    covered, compile_ms, step_us, fail = [], [], [], {}
    for label, schema in SCHEMAS.items():
        t0 = time.perf_counter()
        try:
            lib.compile(schema)
        except Exception as exc:        # noqa: BLE001  (any refusal counts as not covered)
            fail[label] = str(exc).splitlines()[0][:80]
            continue
        compile_ms.append((time.perf_counter() - t0) * 1e3)
        covered.append(label)
    for label in covered[:4]:
        done = 0
        while done < steps:
            m = lib.compile(SCHEMAS[label])
            for _ in range(64):
                try:
                    spent, end = lib.step(m, rng)
                except Exception:       # noqa: BLE001  (a walk that reached the end)
                    break
                step_us.append(spent * 1e6)
                done += 1
                if end:
                    break
    step_us.sort()
    return {"covered": f"{len(covered)}/{len(SCHEMAS)}", "missing": fail,
            "compile_ms_median": round(sorted(compile_ms)[len(compile_ms) // 2], 2) if compile_ms else None,
            "step_us_median": round(step_us[len(step_us) // 2], 1) if step_us else None,
            "step_us_p99": round(step_us[int(len(step_us) * 0.99)], 1) if step_us else None}


def engine_overhead(vocab: int, batch: int = 16, tokens: int = 48) -> None:
    """ms per engine step (median) for `batch` requests, free vs each constrained by a JSON schema."""
    import pydoc_data.topics as topics
    import statistics
    import tempfile
    from pathlib import Path

    from llmlab.generation import SamplingParams
    from llmlab.serve.config import EngineConfig
    from llmlab.serve.engine import Engine
    from llmlab.serve.random_model import make_model_dir

    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
                                               "tags": {"type": "array", "items": {"type": "string"}}}}
    with tempfile.TemporaryDirectory() as tmp:
        d = make_model_dir(Path(tmp), preset="small", tokenizer="bpe", bpe_vocab=vocab,
                           text="\n".join(topics.topics.values()))
        engine = Engine(EngineConfig(model=str(d), device="cpu", max_num_seqs=batch))
        grammar = engine.grammars.json_schema(schema)
        params = SamplingParams(temperature=1.0, max_new_tokens=tokens, seed=0)
        for label, g in (("free", None), ("json schema", grammar), ("free", None), ("json schema", grammar)):
            for _ in range(batch):
                engine.add_request("{", params, grammar=g)
            engine.step_log = []
            while engine.has_unfinished():
                engine.step()
            steps = [s for s in engine.step_log if s["requests"] == batch and s["tokens"] == batch]
            phases = {k: statistics.median(s[k] for s in steps) * 1e3
                      for k in ("execute", "sample", "process")}
            print(f"{label:<12} {batch} requests, {len(steps)} decode steps, median ms: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--engine", action="store_true",
                    help="the engine's per-step cost with and without a schema (one torch thread)")
    args = ap.parse_args()
    if args.engine:
        import torch

        torch.set_num_threads(1)     # steadier on a shared machine
        engine_overhead(args.vocab)
        return
    tok = tokenizer(args.vocab)
    print(f"byte-level BPE, {len(tok)} tokens; {len(SCHEMAS)} schemas")
    for cls in (Xgrammar, Llguidance, OutlinesCore):
        try:
            lib = cls(tok)
        except ImportError as exc:
            print(f"{cls.name}: not installed ({exc})")
            continue
        print(cls.name, json.dumps(measure(lib, args.steps)))


if __name__ == "__main__":
    main()
