"""The proof against the reference libraries: transformers' GPT2LMHeadModel and PyTorch autograd.

    rows = reference_checks()      # [{"check", "value", "tolerance", "passed"}, ...]
Tiny randomly initialised GPT-2s of several shapes (three and five heads among them) are saved by
transformers and read back by `GPT.from_pretrained`; logits, gradients, KV-cache decoding and the
way back (`save_pretrained` -> transformers) are compared. torch is imported here only, inside the
functions: the model itself never touches it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.model import GPT

SHAPES = [  # (n_layer, n_embd, n_head): 4 heads, 3 heads of 12, 5 heads of 8
    (2, 32, 4), (3, 36, 3), (1, 40, 5)]
LOGIT_TOLERANCE = {"float32": 1e-4, "float64": 1e-12}   # measured: 1.2e-7 and 3.3e-16
GRAD_TOLERANCE = 1e-12                                     # measured: 7.6e-16 (relative)
VOCAB, POSITIONS = 67, 24


def tiny_hf_model(n_layer: int, n_embd: int, n_head: int, seed: int = 0, dtype: str = "float32"):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, vocab_size=VOCAB, n_positions=POSITIONS,
                     bos_token_id=None, eos_token_id=None, pad_token_id=None)
    model = GPT2LMHeadModel(cfg).eval()             # eval: no dropout
    with torch.no_grad():                           # LayerNorms start at (1, 0): make them count too
        for name, p in model.named_parameters():
            if "ln" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.double() if dtype == "float64" else model


def loaded_pair(shape, dtype: str, folder: Path, seed: int = 0):
    """(HF model, the same weights read by GPT.from_pretrained from the directory transformers wrote)."""
    hf = tiny_hf_model(*shape, seed=seed, dtype=dtype)
    path = folder / f"hf-{'-'.join(map(str, shape))}-{dtype}"
    hf.save_pretrained(path)
    return hf, GPT.from_pretrained(path, dtype=dtype)


def padded_batch(rng: np.random.Generator, batch: int = 3, t: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """ids and a mask with one full row, one right-padded and one left-padded."""
    ids = rng.integers(0, VOCAB, (batch, t))
    mask = np.ones((batch, t), dtype=np.int64)
    mask[1, t - 4:] = 0
    mask[2, :3] = 0
    return ids, mask


def logit_error(hf, ours: GPT, ids: np.ndarray, mask: np.ndarray | None) -> float:
    """Max |logit difference| over the real (unpadded) positions."""
    import torch

    with torch.no_grad():
        ref = hf(torch.tensor(ids),
                 attention_mask=None if mask is None else torch.tensor(mask)).logits.numpy()
    got = ours(ids, attention_mask=mask)
    keep = np.ones(ids.shape, bool) if mask is None else mask.astype(bool)
    return float(np.abs(got - ref)[keep].max())


def gradient_error(hf, ours: GPT, ids: np.ndarray, mask: np.ndarray) -> float:
    """Worst ‖g_numpy - g_torch‖ / ‖g_torch‖ over parameters, float64 on both sides, for the next-token
    loss of a padded batch: a position counts only when it and the token it predicts are both real."""
    import torch

    real = mask.astype(bool)
    targets = np.full(ids.shape, -100)
    targets[:, :-1] = np.where(real[:, :-1] & real[:, 1:], ids[:, 1:], -100)     # (B, T), already shifted
    hf.zero_grad(set_to_none=True)
    logits = hf(torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             torch.tensor(targets).reshape(-1), ignore_index=-100)
    loss.backward()
    ours.forward(ids, targets, attention_mask=mask)
    ours.backward()
    reference = {name: p.grad.numpy() for name, p in hf.named_parameters()}
    worst = 0.0
    for name, grad in ours.state_dict_grads().items():
        ref = reference[name]
        worst = max(worst, float(np.linalg.norm(grad - ref) / max(np.linalg.norm(ref), 1e-300)))
    return worst


def kv_cache_error(model: GPT, ids: np.ndarray, mask: np.ndarray | None, prefill: int = 4) -> float:
    """Max |difference| between the full forward pass and a prefill followed by one token at a time."""
    full = model(ids, attention_mask=mask)
    cache = KVCache.for_model(model, batch=ids.shape[0])
    pieces = [model(ids[:, :prefill], cache=cache, attention_mask=None if mask is None else mask[:,
                                                                                                 :prefill])]
    for t in range(prefill, ids.shape[1]):
        step_mask = None if mask is None else mask[:, t:t + 1]
        pieces.append(model(ids[:, t:t + 1], cache=cache, attention_mask=step_mask))
    keep = np.ones(ids.shape, bool) if mask is None else mask.astype(bool)
    return float(np.abs(np.concatenate(pieces, axis=1) - full)[keep].max())


def roundtrip_error(ours: GPT, folder: Path) -> float:
    """save_pretrained, then transformers' GPT2LMHeadModel.from_pretrained: max |logit difference|."""
    import torch
    from transformers import GPT2LMHeadModel

    path = folder / "numpy-saved"
    ours.save_pretrained(path)
    hf = GPT2LMHeadModel.from_pretrained(path,
                                         dtype=torch.float64 if ours.dtype == np.float64 else torch.float32)
    ids = np.random.default_rng(1).integers(0, ours.config.vocab_size, (2, 9))
    return logit_error(hf.eval(), ours, ids, None)


def _row(check: str, value: float, tolerance: float) -> dict:
    return {"check": check, "value": value, "tolerance": tolerance, "passed": bool(value <= tolerance)}


def reference_checks(seed: int = 0) -> list[dict]:
    from llmlab.console import quiet_libraries

    # tiny saves and loads: their bars are only noise (--verbose shows them)
    quiet_libraries()
    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for dtype in ("float32", "float64"):
            plain, padded, cached = 0.0, 0.0, 0.0
            for shape in SHAPES:
                hf, ours = loaded_pair(shape, dtype, folder, seed)
                ids, mask = padded_batch(rng)
                plain = max(plain, logit_error(hf, ours, ids, None))
                padded = max(padded, logit_error(hf, ours, ids, mask))
                cached = max(cached, kv_cache_error(ours, ids, None), kv_cache_error(ours, ids, mask))
            tol = LOGIT_TOLERANCE[dtype]
            rows.append(_row(f"logits vs transformers, {len(SHAPES)} shapes ({dtype})", plain, tol))
            rows.append(_row(f"logits vs transformers, padded batch ({dtype})", padded, tol))
            rows.append(_row(f"KV-cache decoding vs full forward ({dtype})", cached, tol))
        hf, ours = loaded_pair(SHAPES[1], "float64", folder, seed)
        rows.append(_row("gradients vs PyTorch autograd (float64, relative)",
                         gradient_error(hf, ours, *padded_batch(rng)), GRAD_TOLERANCE))
        rows.append(_row("save_pretrained -> GPT2LMHeadModel logits (float64)", roundtrip_error(ours, folder),
                         LOGIT_TOLERANCE["float64"]))
    return rows
