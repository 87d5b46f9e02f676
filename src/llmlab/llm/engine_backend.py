"""`engine:<model dir>` — llmlab's own serving engine in-process (GPT-2 and Llama families): paged KV cache,
and a prefix cache that makes a growing chat cheap, since each turn's prompt starts with the previous one.

    llm = load_llm("engine:runs/pretrain/tiny", device="cpu")

Options are `EngineConfig` fields (device, dtype, max_model_len, kv_cache_gb, ...). One request runs at a
time through this client; for many at once, serve the model (`llmlab serve`) and use openai:.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmlab.generation import SamplingParams
from llmlab.llm.base import Delta
from llmlab.llm.local import TokenizerLLM


class EngineLLM(TokenizerLLM):
    def __init__(self, model_dir: str, **options):
        from llmlab.errors import LabError
        from llmlab.serve.config import EngineConfig
        from llmlab.serve.engine import Engine

        self.engine = Engine(EngineConfig(model=str(model_dir), **options))
        if self.engine.tokenizer is None:
            raise LabError(f"{model_dir} has no tokenizer, so text cannot be encoded",
                           hint="save one next to the weights (tokenizer.save_pretrained(dir))")
        self.tokenizer = self.engine.tokenizer
        self.name = f"engine:{model_dir}"

    @property
    def context_window(self) -> int:
        return self.engine.max_model_len

    def _generate_ids(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[Delta]:
        engine = self.engine
        rid = engine.add_request(prompt_ids, params)
        finished = False
        try:
            while not finished and engine.has_unfinished():
                for out in engine.step():
                    if out.request_id != rid:
                        continue
                    finished = out.finished
                    yield Delta(out.text, out.finish_reason if finished else None, out.prompt_tokens,
                                out.completion_tokens)
        finally:
            if not finished:               # the caller stopped reading: free the request's blocks
                engine.abort(rid)

    def close(self) -> None:
        for rid in list(self.engine.requests):
            self.engine.abort(rid)
