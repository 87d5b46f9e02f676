"""The parts of an HF causal LM that the interpretability tools read and patch, found by structure, and one
forward pass that records (or replaces) each part's output.

    parts = model_parts(model)           # blocks, final norm, unembedding, each layer's attention and MLP
    trace = run_with_trace(model, ids)   # embed, resid after each block, every head's output, MLP outputs
    logits = run_with_trace(model, ids, patches=[Patch("head", layer=1, head=2)], source=clean).logits

A pre-norm transformer's residual stream is a sum: resid[l] = resid[l-1] + Σ_h head[l, h] + attn bias
+ mlp[l], with resid[-1] = embed. Each head's output is its slice z_h (B, T, dh) of the input to the
attention's output projection, times that projection's rows for the head: head[l, h] = z_h W_O,h. GPT-2
(fused `c_attn`, Conv1D `c_proj`) and Llama-style models (`q/k/v/o_proj`, RoPE, grouped K/V, RMSNorm) both
fit; so do Qwen and Mistral. Not handled: models whose blocks add a norm after attention (Gemma 2/3) or
scale the logits (Gemma, Cohere): the attribution checks the sum and says so, the lens reports its error.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from llmlab.errors import LabError

KINDS = ("embed", "resid", "attn", "head", "mlp")


@dataclass
class ModelParts:
    blocks: list  # one module per layer; its output is the residual stream after that layer
    final_norm: Any  # LayerNorm (GPT-2) or RMSNorm (Llama)
    unembed: Any  # the lm_head Linear: (V, d) weight
    attn: list  # each block's attention module
    # each attention's output projection (its input: every head's output, side by side)
    out_proj: list
    mlp: list  # each block's MLP (None for a model without one)
    n_heads: int
    head_dim: int

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    def head_weights(self, layer: int):
        """W_O of one layer as (H, dh, d) and its bias (d,) or None: head h writes z_h @ W_O[h]."""
        proj = self.out_proj[layer]
        w = proj.weight
        # Conv1D (GPT-2) stores (in, out); Linear stores (out, in)
        w = w if type(proj).__name__ == "Conv1D" else w.T  # (H·dh, d)
        return w.reshape(self.n_heads, self.head_dim, -1), proj.bias


def _first(module, names: tuple[str, ...]):
    for name in names:
        found = getattr(module, name, None)
        if found is not None:
            return found
    return None


def model_parts(model) -> ModelParts:
    """Find the parts of an HF causal LM by structure (GPT-2, Llama, Qwen, Mistral, ... all fit)."""
    import torch

    n_layers = model.config.num_hidden_layers
    blocks = next(
        (m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers), None
    )
    base = model.base_model
    final_norm = _first(base, ("ln_f", "norm", "final_layernorm"))
    unembed = model.get_output_embeddings()
    if blocks is None or final_norm is None or unembed is None:
        raise LabError(
            f"{type(model).__name__}: cannot find its blocks, final norm and unembedding",
            hint="the lens, patching and attribution need a decoder-only model like GPT-2 or Llama",
        )
    attn = [_first(b, ("attn", "self_attn", "attention")) for b in blocks]
    out_proj = [_first(a, ("c_proj", "o_proj", "out_proj", "dense")) if a is not None else None for a in attn]
    if any(p is None for p in out_proj):
        raise LabError(
            f"{type(model).__name__}: cannot find each attention's output projection",
            hint="supported: GPT-2 (c_proj) and Llama-style models (o_proj)",
        )
    n_heads = model.config.num_attention_heads
    width = out_proj[0].weight.shape[0 if type(out_proj[0]).__name__ == "Conv1D" else 1]
    return ModelParts(
        list(blocks),
        final_norm,
        unembed,
        attn,
        out_proj,
        [getattr(b, "mlp", None) for b in blocks],
        n_heads,
        width // n_heads,
    )


@dataclass
class Patch:
    """One activation to take from the source run: kind in KINDS; layer (not for embed), head (for head);
    position None = every position."""

    kind: str
    layer: int = 0
    head: int | None = None
    position: int | None = None


@dataclass
class Trace:
    """What one forward pass recorded, batch first: embed (B, T, d) the input of block 0; resid (L, B, T, d)
    after each block; attn (L, B, T, d) each attention's output; z (L, B, T, H, dh) each head's output before
    the output projection; mlp (L, B, T, d); logits (B, T, V)."""

    embed: Any
    resid: Any
    attn: Any
    z: Any
    mlp: Any
    logits: Any


def _hidden(args, kwargs):
    return args[0] if args else kwargs["hidden_states"]


def run_with_trace(model, ids, patches: list[Patch] | None = None, source: Trace | None = None) -> Trace:
    """One forward pass of `ids` (B, T) recording every part's output; each patch replaces that part's output
    (at its position, or everywhere) by the source run's before the rest of the model reads it."""
    import torch

    parts = model_parts(model)
    patches = patches or []
    if patches and source is None:
        raise ValueError("patching needs a source trace")
    for p in patches:
        if p.kind not in KINDS:
            raise LabError(f"unknown component {p.kind!r}", hint=f"one of {', '.join(KINDS)}")
    L = parts.n_layers
    seen: dict[str, list] = {
        "embed": [None],
        "resid": [None] * L,
        "attn": [None] * L,
        "z": [None] * L,
        "mlp": [None] * L,
    }

    def replace(x, new, p: Patch, head: bool = False):
        x = x.clone()
        where = slice(None) if p.position is None else p.position
        if head:  # x (B, T, H·dh): the head's slice of the projection's input
            lo = p.head * parts.head_dim
            x[:, where, lo : lo + parts.head_dim] = new[:, where, p.head]
        else:
            x[:, where] = new[:, where]
        return x

    def wanted(kind, layer):
        return [p for p in patches if p.kind == kind and (kind == "embed" or p.layer == layer)]

    def on_embed(module, args, kwargs):
        x = _hidden(args, kwargs)
        for p in wanted("embed", 0):
            x = replace(x, source.embed, p)
        seen["embed"][0] = x.detach()
        return ((x, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": x})

    def on_output(kind, layer):
        def hook(module, args, output):
            x = output[0] if isinstance(output, tuple) else output
            for p in wanted(kind, layer):
                x = replace(x, getattr(source, kind)[layer], p)
            seen[kind][layer] = x.detach()
            return (x, *output[1:]) if isinstance(output, tuple) else x

        return hook

    def on_heads(layer):
        def hook(module, args):
            z = args[0]  # (B, T, H·dh)
            for p in wanted("head", layer):
                z = replace(z, source.z[layer], p, head=True)
            seen["z"][layer] = z.detach().unflatten(-1, (parts.n_heads, parts.head_dim))  # (B, T, H, dh)
            return (z, *args[1:])

        return hook

    handles = [parts.blocks[0].register_forward_pre_hook(on_embed, with_kwargs=True)]
    for layer in range(L):
        handles.append(parts.blocks[layer].register_forward_hook(on_output("resid", layer)))
        handles.append(parts.attn[layer].register_forward_hook(on_output("attn", layer)))
        handles.append(parts.out_proj[layer].register_forward_pre_hook(on_heads(layer)))
        if parts.mlp[layer] is not None:
            handles.append(parts.mlp[layer].register_forward_hook(on_output("mlp", layer)))
    try:
        with torch.no_grad():
            ids = torch.as_tensor(ids, device=next(model.parameters()).device)
            logits = model(input_ids=ids.reshape(1, -1) if ids.ndim == 1 else ids, use_cache=False).logits
    # a hook left behind runs on every later call
    finally:
        for h in handles:
            h.remove()
    if any(v is None for v in seen["resid"]):
        raise LabError(
            f"{type(model).__name__}: a block never ran", hint="the model's layers are not its blocks"
        )
    mlp = [
        m if m is not None else torch.zeros_like(r) for m, r in zip(seen["mlp"], seen["resid"], strict=True)
    ]
    return Trace(
        seen["embed"][0],
        torch.stack(seen["resid"]),
        torch.stack(seen["attn"]),
        torch.stack(seen["z"]),
        torch.stack(mlp),
        logits.detach(),
    )


def head_outputs(parts: ModelParts, trace: Trace, layer: int):
    """(B, T, H, d): what each head of `layer` adds to the residual stream (the output bias left out)."""
    import torch

    w, _ = parts.head_weights(layer)  # (H, dh, d)
    return torch.einsum("bthe,hed->bthd", trace.z[layer].to(w.dtype), w)


@contextlib.contextmanager
def zero_heads(model, heads: list[tuple[int, int]]):
    """Inside the block, each (layer, head) in `heads` writes nothing: its slice of the output projection's
    input is zeroed (zero ablation), in every forward pass."""
    parts = model_parts(model)

    def hook_for(layer):
        def hook(module, args):
            z = args[0].clone()  # (B, T, H·dh)
            for lay, head in heads:
                if lay == layer:
                    z[..., head * parts.head_dim : (head + 1) * parts.head_dim] = 0
            return (z, *args[1:])

        return hook

    handles = [
        parts.out_proj[layer].register_forward_pre_hook(hook_for(layer))
        for layer in {lay for lay, _ in heads}
    ]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()
