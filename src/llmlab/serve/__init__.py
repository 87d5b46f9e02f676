"""Project 9: an LLM serving engine (continuous batching, paged KV cache, prefix cache) behind an OpenAI API.

    from llmlab.serve import Engine, EngineConfig
    engine = Engine(EngineConfig(model="path/to/hf-model-dir"))
    print(engine.generate(["Hello"])[0].text)

`llmlab serve --model DIR` runs the HTTP server; `llmlab bench serve` measures one. See docs/serve.md.
Names are imported on first use, so `llmlab --help` does not pay for torch.
"""

from importlib import import_module

_WHERE = {"Engine": "engine", "EngineConfig": "config", "RequestOutput": "request"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"llmlab.serve.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'llmlab.serve' has no attribute {name!r}")
