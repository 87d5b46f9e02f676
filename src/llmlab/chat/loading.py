"""The chat's model: any `load_llm` string, optionally quantised to int8 by llmlab's own quantiser first.

    llm, report = load_chat_llm("hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0", quantize="int8")
    llm, _ = load_chat_llm("gguf:tinyllama.Q4_K_M.gguf")          # llama.cpp: quantised already

int8 needs the model's weights in this process, so it goes through transformers (`hf:` or a model directory,
even one the engine could serve); the model is quantised in place and wrapped by `HFLLM.from_model`.
"""

from __future__ import annotations

from llmlab.errors import LabError

QUANTIZE = ("none", "int8")


def load_chat_llm(spec: str, quantize: str = "none", device: str = "cpu", kernel: str = "int8pack",
                  **options):
    """(LLM, QuantReport or None)."""
    from llmlab.llm import load_llm, parse_spec

    if quantize not in QUANTIZE:
        raise LabError(f"unknown --quantize {quantize!r}", hint="use int8 or none")
    kind, target = parse_spec(spec)
    if quantize == "none":
        if kind in ("engine", "hf"):
            options["device"] = device
        return load_llm(spec, **options), None
    if kind in ("gguf", "openai"):
        raise LabError(f"--quantize int8 works on a transformers model, not on {kind}:",
                       hint="a GGUF file is quantised already (pick a Q8_0 / Q4_K_M file); a server "
                            "quantises "
                            "its own model; or use --quantize none")
    if "dtype" in options:
        raise LabError("--quantize int8 starts from the float32 weights, so it takes no dtype option",
                       hint="drop --opt dtype=..., or use --quantize none to load the model in that dtype")
    from llmlab.chat.quantize import quantize_model
    from llmlab.hub import load_causal_lm
    from llmlab.llm.hf_backend import HFLLM

    try:
        model, tokenizer = load_causal_lm(target, device="cpu", dtype="float32", **options)
    except TypeError as exc:
        from llmlab.llm.registry import unknown_option

        raise unknown_option(exc, "hf", options) from None
    report = quantize_model(model, kernel=kernel)
    # off the CPU the int8 layers dequantise on the fly (the int8pack kernel is a CPU one)
    return HFLLM.from_model(model.to(device), tokenizer, name=f"int8:{target}"), report
