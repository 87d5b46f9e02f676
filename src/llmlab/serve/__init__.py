"""Project 9: an LLM serving engine (continuous batching, paged KV cache, prefix cache) behind an OpenAI API.

    from llmlab.serve import Engine, EngineConfig
    engine = Engine(EngineConfig(model="path/to/hf-model-dir"))
    print(engine.generate(["Hello"])[0].text)

`llmlab serve --model DIR` runs the HTTP server; `llmlab bench serve` measures one. See docs/serve.md.
"""

from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import ContextLengthError, Engine
from llmlab.serve.request import Completion, RequestOutput

__all__ = ["Completion", "ContextLengthError", "Engine", "EngineConfig", "RequestOutput"]
