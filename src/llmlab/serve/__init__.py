"""Project 9: an LLM serving engine (continuous batching, paged KV cache, prefix cache) behind an OpenAI API.

    from llmlab.serve.config import EngineConfig
    from llmlab.serve.engine import Engine
    engine = Engine(EngineConfig(model="path/to/hf-model-dir"))
    print(engine.generate(["Hello"])[0].text)

`llmlab serve --model DIR` runs the HTTP server; `llmlab bench serve` measures one. See docs/serve.md.
The package re-exports nothing: the engine imports torch, and `llmlab --help` (which imports this package's
cli.py, and so this file) must not pay for it. Import each piece from the module that defines it.
"""
