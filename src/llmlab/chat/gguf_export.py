"""Write a Llama-family or GPT-2 HF model directory as a GGUF file, the format llama.cpp runs (`gguf:FILE`).

    export_gguf("runs/pretrain/tiny-llama", "tiny.Q8_0.gguf", kind="q8_0")
    llmlab chat export-gguf --model DIR --out tiny.Q4_0.gguf --type q4_0

GGUF is one file: a header, key/value metadata (the config and the whole tokenizer under llama.cpp's key
names) and the tensors under llama.cpp's names (`blk.0.attn_q.weight`, ...), each as f32, f16, Q8_0, Q4_0 or
Q4_1. Q8_0 is llama.cpp's int8: blocks of 32 weights along a row, each with one fp16 scale d = max|w| / 127
and q = round(w / d), so it is the per-channel int8 of quantize.py with 32-wide groups instead of whole rows.
Q4_0 and Q4_1 are int4.py's symmetric and asymmetric int4 at group 32, bit for bit (18 and 20 bytes per 32
weights). Every 2-D tensor is quantised, embeddings included, as llama.cpp's own files do; a row that is not
whole 32-blocks is written f16. Layout rules of llama.cpp: Llama's q and k rows are permuted so each head's
rotary pairs sit in halves (`permute_for_rope`), GPT-2's Conv1D weights are stored transposed to (out, in),
and norms stay f32. Written with the `gguf` package (llama.cpp's own Python writer); only byte-level BPE
tokenizers are handled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmlab.errors import LabError

KINDS = ("f32", "f16", "q8_0", "q4_0", "q4_1")
ARCHITECTURES = ("llama", "gpt2")
CONV1D_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def permute_for_rope(weight: np.ndarray, n_head: int) -> np.ndarray:
    """(n_head * head_dim, in) rows from HF's rotate-half order to llama.cpp's interleaved pairs, per head:
    row h*hd + 2i <- h*hd + i and row h*hd + 2i + 1 <- h*hd + hd/2 + i."""
    rows = weight.shape[0]
    halves = weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])     # (head, half, pair, ...)
    return halves.swapaxes(1, 2).reshape(weight.shape)


def _tokenizer_metadata(writer, tokenizer) -> None:
    import gguf

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    pre = spec.get("pre_tokenizer", {}).get("type")
    if model.get("type") != "BPE" or pre not in ("ByteLevel", "Sequence"):
        raise LabError("only byte-level BPE tokenizers (GPT-2 style) can be written to GGUF here",
                       hint="llama.cpp's convert_hf_to_gguf.py handles sentencepiece tokenizers")
    vocab = dict(model["vocab"])
    for added in spec.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    size = max(vocab.values()) + 1
    tokens, types = [f"[PAD{i}]" for i in range(size)], [gguf.TokenType.UNUSED] * size
    specials = {a["id"] for a in spec.get("added_tokens", []) if a.get("special")}
    for text, index in vocab.items():
        tokens[index] = text
        types[index] = gguf.TokenType.CONTROL if index in specials else gguf.TokenType.NORMAL
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for name, setter in (("bos_token_id", writer.add_bos_token_id),
                         ("eos_token_id", writer.add_eos_token_id)):
        if getattr(tokenizer, name, None) is not None:
            setter(int(getattr(tokenizer, name)))
    writer.add_add_bos_token(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def _config_metadata(writer, cfg, name: str) -> None:
    """The hyper-parameters llama.cpp reads for this architecture, under its key names."""
    writer.add_name(name)
    writer.add_vocab_size(cfg.vocab_size)
    if cfg.model_type == "gpt2":
        writer.add_context_length(cfg.n_positions)
        writer.add_embedding_length(cfg.n_embd)
        writer.add_block_count(cfg.n_layer)
        writer.add_feed_forward_length(cfg.n_inner or 4 * cfg.n_embd)
        writer.add_head_count(cfg.n_head)
        writer.add_layer_norm_eps(cfg.layer_norm_epsilon)
        return
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(getattr(cfg, "rope_theta", None) or cfg.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)


def _llama_cpp_layout(hf_name: str, data: np.ndarray, cfg) -> np.ndarray:
    """A tensor as llama.cpp stores it: Llama's q/k rows permuted for rope, GPT-2's Conv1D as (out, in)."""
    if cfg.model_type == "gpt2":
        return data.T if hf_name.endswith(CONV1D_SUFFIXES) else data
    if hf_name.endswith("q_proj.weight"):
        return permute_for_rope(data, cfg.num_attention_heads)
    if hf_name.endswith("k_proj.weight"):
        return permute_for_rope(data, cfg.num_key_value_heads)
    return data


def export_gguf(model_dir: str | Path, out: str | Path, kind: str = "q8_0") -> Path:
    """Write `model_dir` (a Llama or GPT-2 causal LM, byte-level BPE tokenizer) to the GGUF file `out`."""
    try:
        import gguf
    except ImportError:
        raise LabError("writing GGUF needs the gguf package, which is not installed",
                       hint="pip install gguf (or pip install 'llmlab[chat]')") from None
    from llmlab.hub import load_causal_lm

    if kind not in KINDS:
        raise LabError(f"unknown GGUF tensor type {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    # a missing folder or tokenizer is a LabError there; the tokenizer goes into the file's metadata
    model, tokenizer = load_causal_lm(model_dir, dtype="float32")
    cfg = model.config
    if cfg.model_type not in ARCHITECTURES:
        raise LabError(f"only Llama-family and GPT-2 models are written to GGUF here, not {cfg.model_type!r}",
                       hint="use llama.cpp's convert_hf_to_gguf.py for other architectures")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), cfg.model_type)
    _config_metadata(writer, cfg, Path(model_dir).name)
    types = gguf.LlamaFileType
    writer.add_file_type({"f32": types.ALL_F32, "f16": types.MOSTLY_F16, "q8_0": types.MOSTLY_Q8_0,
                          "q4_0": types.MOSTLY_Q4_0, "q4_1": types.MOSTLY_Q4_1}[kind])
    _tokenizer_metadata(writer, tokenizer)

    arch = gguf.MODEL_ARCH.LLAMA if cfg.model_type == "llama" else gguf.MODEL_ARCH.GPT2
    names = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if cfg.tie_word_embeddings and hf_name == "lm_head.weight":
            continue                                    # llama.cpp reuses token_embd when output is absent
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise LabError(f"no GGUF name for {hf_name}",
                           hint="the model has a layer llama.cpp's model lacks")
        data = _llama_cpp_layout(hf_name, tensor.numpy(), cfg)
        if data.ndim == 1 or kind == "f32":             # norms and biases (1-D) stay f32, as llama.cpp's do
            writer.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
        elif kind == "f16":
            writer.add_tensor(name, data.astype(np.float16))
        else:
            qtype = getattr(gguf.GGMLQuantizationType, kind.upper())
            if data.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:
                writer.add_tensor(name, data.astype(np.float16))     # a row not made of whole 32-blocks
            else:                                           # bytes (rows, bytes per block * blocks)
                blocks = gguf.quants.quantize(np.ascontiguousarray(data), qtype)
                writer.add_tensor(name, blocks, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
