"""The proof for Llama, Qwen2 and Qwen3 against transformers' own classes and PyTorch autograd.

    rows = llama_reference_checks("qwen3")     # [{"check", "value", "tolerance", "passed"}, ...]
Tiny random LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM models, at query-per-kv-head ratios of
1, 2 and 4 and multi-query, are saved by transformers (sharded, to exercise the index) and read back by
`Llama.from_pretrained`; logits on plain and padded batches, gradients, KV-cache decoding and the way back
(`save_pretrained` -> AutoModelForCausalLM) are compared. torch is imported inside the functions only.

transformers computes RMSNorm and the RoPE tables in float32 even in a float64 model (the checkpoints were
trained that way). For the float64 comparison `full_precision` lifts those two to float64 — the same
equations without the float32 rounding; RoPE's frequencies are then the NumPy model's (test_numpy_rope
checks them against transformers' own, float32-rounded), and the float32 comparison leaves transformers
untouched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.llama import Llama
from llmlab.numpy_transformer.reference import gradient_error, logit_error  # a Llama is a GPT to both

VOCAB, POSITIONS = 71, 64
SHAPES = [  # (n_layer, n_embd, n_head, n_kv_head): query heads per kv head 1, 2, 4, and multi-query
    (2, 32, 4, 4), (2, 48, 6, 3), (1, 32, 8, 2), (2, 40, 5, 1)]
LOGIT_TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
GRAD_TOLERANCE = 1e-10                                     # relative, float64
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 16}


def hf_config(family: str, shape, **overrides):
    """transformers' config of a tiny model of that family and shape."""
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    n_layer, n_embd, n_head, n_kv = shape
    kwargs = dict(vocab_size=VOCAB, hidden_size=n_embd, intermediate_size=3 * n_embd,
                  num_hidden_layers=n_layer, num_attention_heads=n_head, num_key_value_heads=n_kv,
                  max_position_embeddings=POSITIONS,
                  bos_token_id=None, eos_token_id=None, pad_token_id=None, tie_word_embeddings=False)
    if family == "llama":
        kwargs.update(rope_parameters={"rope_theta": 500000.0, **LLAMA3_ROPE})
        return LlamaConfig(**{**kwargs, **overrides})
    if family == "qwen2":
        return Qwen2Config(**{**kwargs, "rope_parameters": {"rope_type": "default", "rope_theta": 1e6},
                              **overrides})
    return Qwen3Config(**{**kwargs, "head_dim": 2 * n_embd // n_head, "tie_word_embeddings": True,
                          **overrides})


def tiny_hf_model(family: str, shape, seed: int = 0, dtype: str = "float32", **overrides):
    """A random model of transformers' class; norms and biases are randomised too, so that each counts."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = hf_config(family, shape, **overrides)
    cfg._attn_implementation = "sdpa"              # eager rounds softmax to float32, sdpa keeps the dtype
    model = AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith(".bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model.double() if dtype == "float64" else model


def full_precision(hf, inv_freq: np.ndarray):
    """Make transformers' float64 model float64 all through (see the module docstring); returns it."""
    import torch

    def rms_forward(norm):
        eps = norm.variance_epsilon
        return lambda h: norm.weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps))

    for module in hf.modules():
        if type(module).__name__.endswith("RMSNorm"):
            module.forward = rms_forward(module)
    freq = torch.tensor(inv_freq, dtype=torch.float64)

    def rope_forward(x, position_ids):
        angles = position_ids[..., None].double() * freq
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    hf.model.rotary_emb.forward = rope_forward
    return hf


def loaded_pair(family: str, shape, dtype: str, folder: Path, seed: int = 0, **overrides):
    """(transformers model, the same weights read by Llama.from_pretrained from the directory it saved, in
    shards of a few kilobytes so the index path is the one taken)."""
    hf = tiny_hf_model(family, shape, seed=seed, dtype=dtype, **overrides)
    path = folder / f"{family}-{'-'.join(map(str, shape))}-{dtype}-{seed}"
    hf.save_pretrained(path, max_shard_size="20KB")
    ours = Llama.from_pretrained(path, dtype=dtype)
    if dtype == "float64":
        full_precision(hf, ours.inv_freq)
    return hf, ours


def padded_batch(rng: np.random.Generator, batch: int = 3, t: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """ids and a mask with one full row, one right-padded and one left-padded."""
    ids = rng.integers(0, VOCAB, (batch, t))
    mask = np.ones((batch, t), dtype=np.int64)
    mask[1, t - 4:] = 0
    mask[2, :3] = 0
    return ids, mask


def kv_cache_error(model: Llama, ids: np.ndarray, mask: np.ndarray | None, prefill: int = 4) -> float:
    """Max |difference| between the full forward pass and a prefill followed by one token at a time."""
    full = model(ids, attention_mask=mask)
    cache = KVCache.for_model(model, batch=ids.shape[0], max_len=ids.shape[1])
    def part(a: int, b: int) -> np.ndarray:
        return model(ids[:, a:b], cache=cache, attention_mask=None if mask is None else mask[:, a:b])

    pieces = [part(0, prefill)] + [part(t, t + 1) for t in range(prefill, ids.shape[1])]
    keep = np.ones(ids.shape, bool) if mask is None else mask.astype(bool)
    return float(np.abs(np.concatenate(pieces, axis=1) - full)[keep].max())


def roundtrip_error(ours: Llama, folder: Path) -> float:
    """save_pretrained, then AutoModelForCausalLM.from_pretrained: max |logit difference| (float64 needs
    `full_precision` on the loaded model too)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = folder / f"numpy-saved-{ours.config.family}"
    ours.save_pretrained(path)
    f64 = ours.dtype == np.float64
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float64 if f64 else torch.float32,
                                              attn_implementation="sdpa").eval()
    if type(hf).__name__ != {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                             "qwen3": "Qwen3ForCausalLM"}[ours.config.family]:
        return float("inf")
    if f64:
        full_precision(hf, ours.inv_freq)
    ids = np.random.default_rng(1).integers(0, ours.config.vocab_size, (2, 9))
    return logit_error(hf, ours, ids, None)


def _row(check: str, value: float, tolerance: float) -> dict:
    return {"check": check, "value": value, "tolerance": tolerance, "passed": bool(value <= tolerance)}


def llama_reference_checks(family: str, seed: int = 0) -> list[dict]:
    """Every comparison above for one family, as rows for `llmlab transformer check --arch`."""
    from llmlab.console import quiet_libraries

    quiet_libraries()
    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for dtype in ("float32", "float64"):
            plain, padded, cached = 0.0, 0.0, 0.0
            for shape in SHAPES:
                hf, ours = loaded_pair(family, shape, dtype, folder, seed)
                ids, mask = padded_batch(rng)
                plain = max(plain, logit_error(hf, ours, ids, None))
                padded = max(padded, logit_error(hf, ours, ids, mask))
                cached = max(cached, kv_cache_error(ours, ids, None), kv_cache_error(ours, ids, mask))
            tol = LOGIT_TOLERANCE[dtype]
            rows.append(_row(f"{family} logits vs transformers, GQA 1/2/4/MQA ({dtype})", plain, tol))
            rows.append(_row(f"{family} logits vs transformers, padded batch ({dtype})", padded, tol))
            rows.append(_row(f"{family} KV-cache decoding vs full forward ({dtype})", cached, tol))
        hf, ours = loaded_pair(family, SHAPES[1], "float64", folder, seed)
        rows.append(_row(f"{family} gradients vs PyTorch autograd (float64, relative)",
                         gradient_error(hf, ours, *padded_batch(rng)), GRAD_TOLERANCE))
        rows.append(_row(f"{family} save_pretrained -> AutoModelForCausalLM logits (float64)",
                         roundtrip_error(ours, folder), LOGIT_TOLERANCE["float64"]))
    return rows
