"""`hf:<Hub name or model dir>` — any causal LM that transformers loads, decoded by llmlab.generation (the
same processors and sampler as everywhere else in llmlab), streamed through the engine's incremental
detokeniser so multi-byte characters never arrive broken.

    llm = load_llm("hf:gpt2", device="cpu", dtype="auto")
    llm = HFLLM.from_model(quantized_model, tokenizer, name="int8:tiny")   # a model already in memory
"""

from __future__ import annotations

from collections.abc import Iterator

from llmlab.generation import SamplingParams, iter_tokens
from llmlab.llm.base import Delta
from llmlab.llm.local import TokenizerLLM, text_deltas
from llmlab.tokenizer.detokenizer import byte_table, make_detokenizer


class HFLLM(TokenizerLLM):
    def __init__(self, target: str, device: str = "cpu", dtype: str = "auto", **kwargs):
        from llmlab.hub import load_causal_lm

        model, tokenizer = load_causal_lm(target, device=device, dtype=dtype, **kwargs)
        self._setup(model, tokenizer, f"hf:{target}")

    @classmethod
    def from_model(cls, model, tokenizer, name: str = "hf:in-memory") -> HFLLM:
        llm = cls.__new__(cls)
        llm._setup(model.eval(), tokenizer, name)
        return llm

    def _setup(self, model, tokenizer, name: str) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        cfg = model.config
        self._window = (getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
                        or getattr(tokenizer, "model_max_length", 2048))
        # the tokenizer's EOS and the config's (either may be an id, a list of ids, or missing)
        eos = [getattr(tokenizer, "eos_token_id", None), getattr(cfg, "eos_token_id", None)]
        self._stop_ids = {i for e in eos for i in (e if isinstance(e, list) else [e]) if i is not None}
        self._byte_table = byte_table(tokenizer)   # None unless byte-level BPE (then the fast exact detokeniser)

    @property
    def context_window(self) -> int:
        return int(self._window)

    def _generate_ids(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[Delta]:
        detok = make_detokenizer(self.tokenizer, prompt_ids, self._byte_table)
        tokens = (int(next_ids[0]) for next_ids in iter_tokens(self.model, prompt_ids, params))
        return text_deltas(tokens, detok.step, detok.flush, params, set(params.stop_token_ids) | self._stop_ids,
                           len(prompt_ids))
