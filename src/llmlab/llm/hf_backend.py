"""`hf:<Hub name or model dir>` — any causal LM that transformers loads, decoded by llmlab.generation (the
same processors and sampler as everywhere else in llmlab), streamed through the engine's incremental
detokeniser so multi-byte characters never arrive broken. It stops where the engine would: the same EOS set
(tokenizer's and config's, `eos_token_ids`) and the same rule (`StopChecker`).

    llm = load_llm("hf:gpt2", device="cpu", dtype="auto")
    llm = HFLLM.from_model(quantized_model, tokenizer, name="int8:tiny")   # a model already in memory
"""

from __future__ import annotations

from collections.abc import Iterator

from llmlab.errors import LabError
from llmlab.generation import SamplingParams, StopChecker, context_length, eos_token_ids, iter_tokens
from llmlab.llm.base import Delta
from llmlab.llm.local import TokenizerLLM, text_deltas
from llmlab.tokenizer.detokenizer import byte_table, make_detokenizer


class HFLLM(TokenizerLLM):
    def __init__(self, target: str, device: str = "cpu", dtype: str = "auto",
                 context_window: int | None = None,
                 **kwargs):
        from llmlab.hub import load_causal_lm

        model, tokenizer = load_causal_lm(target, device=device, dtype=dtype, **kwargs)
        self._setup(model, tokenizer, f"hf:{target}", context_window)

    @classmethod
    def from_model(cls, model, tokenizer, name: str = "hf:in-memory",
                   context_window: int | None = None) -> HFLLM:
        llm = cls.__new__(cls)
        llm._setup(model.eval(), tokenizer, name, context_window)
        return llm

    def _setup(self, model, tokenizer, name: str, context_window: int | None) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self._window = context_window or context_length(model.config, tokenizer)
        if not self._window:
            raise LabError(f"{name} states no context length (no n_positions / max_position_embeddings "
                           "in its config, no model_max_length in its tokenizer)",
                           hint="pass context_window=N (--opt context_window=N): the tokens it attends over")
        self._eos_ids = eos_token_ids(tokenizer, model.config)
        # None unless byte-level BPE (then the fast exact detokeniser)
        self._byte_table = byte_table(tokenizer)

    @property
    def context_window(self) -> int:
        return int(self._window)

    def _generate_ids(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[Delta]:
        detok = make_detokenizer(self.tokenizer, prompt_ids, self._byte_table)
        tokens = (int(next_ids[0]) for next_ids in iter_tokens(self.model, prompt_ids, params))
        checker = StopChecker(params, self._eos_ids, piece=detok.step, flush=detok.flush)
        return text_deltas(tokens, checker, len(prompt_ids))
