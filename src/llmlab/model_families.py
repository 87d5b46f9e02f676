"""The model families llmlab's serving engine implements, by the `model_type` of a Hugging Face config.json.

    kind = json.loads((model_dir / "config.json").read_text())["model_type"]
    kind in GPT2_TYPES + LLAMA_TYPES          # the engine can serve it; otherwise `hf:` runs it

In the ground layer because two sides read it: `llmlab.serve.model` builds these families, and
`llmlab.llm.registry` picks the `engine:` backend for a bare model folder of one of them (else `hf:`).
"""

GPT2_TYPES = ("gpt2",)
LLAMA_TYPES = ("llama", "mistral", "qwen2")      # one architecture: RMSNorm, rotary positions, SwiGLU, GQA
