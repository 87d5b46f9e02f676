"""Pretraining presets: a model shape (`ModelSpec`) plus a `TrainConfig` for the shared loop.

    spec, train = resolve("gpt2-124m", ["batch_size=16", "n_layer=6"])

`--set key=value` goes to whichever of the two dataclasses has the key. `gpt2-124m` is GPT-2 small
(12 layers, 12 heads, width 768, context 1024) with the llm.c / nanoGPT OpenWebText recipe: 2^19
tokens per optimizer step (32 x 1024 x 16 accumulation on one GPU), lr 6e-4 -> 6e-5, 700 warmup
steps, betas (0.9, 0.95), weight decay 0.1, clipping at 1.0, 19,073 steps = 10B tokens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from llmlab.config import apply_overrides, route_overrides
from llmlab.errors import LabError
from llmlab.training import TrainConfig


@dataclass
class ModelSpec:
    # gpt2 (GPT2LMHeadModel) | llama (LlamaForCausalLM: RMSNorm, RoPE, SwiGLU)
    arch: str = "gpt2"
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024              # context length, the T of every batch
    # MLP width; None: 4 * n_embd (gpt2), 8/3 * n_embd rounded to 64 (llama)
    intermediate_size: int | None = None
    n_kv_head: int | None = None        # llama only: grouped-query attention (None: = n_head)
    rope_theta: float = 10000.0
    dropout: float = 0.0                # pretraining on more tokens than parameters needs none
    vocab_multiple: int = 64            # pad the embedding to a multiple: tensor-core friendly matmul shapes
    # sdpa (torch's fused kernels, no mask built) | hf-sdpa (transformers' own) | eager
    attention: str = "sdpa"
    loss_in_forward: bool = True        # cross-entropy inside the model's forward, so torch.compile fuses it
    # >0: lm_head + cross-entropy per chunk of this many tokens, gradients in
    loss_chunk_size: int = 0
                                        # the same pass, no full (B, T, V) logits (0: transformers' lm_head +
                                        # loss)
    # torch.compile: tune each generated kernel's launch config (slower compile)
    coordinate_descent: bool = False
    # GPT-2 initialisation: N(0, 0.02), residual projections / sqrt(2 n_layer)
    init_std: float = 0.02


@dataclass
class Preset:
    name: str
    description: str
    model: ModelSpec
    train: TrainConfig = field(default_factory=TrainConfig)


def _gpt2_124m_train() -> TrainConfig:
    return TrainConfig(max_steps=19073, batch_size=32, grad_accum=16, lr=6e-4, min_lr=6e-5, warmup_steps=700,
                       weight_decay=0.1, beta1=0.9, beta2=0.95, grad_clip=1.0, eval_interval=250,
                       eval_iters=20,
                       log_interval=10, sample_interval=1000, sample_tokens=64, compile=True,
                       sample_prompts=["def ", "import ", "class "])


def _tiny_train() -> TrainConfig:
    return TrainConfig(max_steps=300, batch_size=16, grad_accum=1, lr=3e-3, min_lr=3e-4, warmup_steps=20,
                       weight_decay=0.1, beta1=0.9, beta2=0.95, grad_clip=1.0, eval_interval=50, eval_iters=8,
                       log_interval=10, sample_interval=0, sample_tokens=48, compile=False,
                       sample_prompts=["def ", "import ", "class "])


PRESETS: dict[str, Preset] = {p.name: p for p in [
    # the chunked linear + cross-entropy: 1.09x tokens/s at B=64 on an H100 (docs/pretrain.md, section 5)
    Preset("gpt2-124m", "GPT-2 small: the 10B-token recipe",
           ModelSpec(loss_chunk_size=16384), _gpt2_124m_train()),
    Preset("gpt2-tiny", "CPUs, tests, the quick step",
           ModelSpec(n_layer=2, n_head=4, n_embd=64, block_size=128), _tiny_train()),
    Preset("llama-124m", "Llama-style: RMSNorm, RoPE, SwiGLU",
           ModelSpec(arch="llama", intermediate_size=2048), _gpt2_124m_train()),
    Preset("llama-tiny", "CPUs and tests",
           ModelSpec(arch="llama", n_layer=2, n_head=4, n_embd=64, block_size=128, n_kv_head=2),
           _tiny_train()),
]}


def resolve(preset: str, overrides: list[str] | None = None) -> tuple[ModelSpec, TrainConfig]:
    """The preset's two configs with each `key=value` applied to the one that has the key."""
    if preset not in PRESETS:
        raise LabError(f"unknown preset {preset!r}", hint="choose one of " + ", ".join(PRESETS))
    base = PRESETS[preset]
    routed = route_overrides(overrides, {"model": {f.name for f in dataclasses.fields(ModelSpec)},
                                         "training": {f.name for f in dataclasses.fields(TrainConfig)}},
                             f"preset {preset}")
    mine, theirs = routed["model"], routed["training"]
    spec = apply_overrides(dataclasses.replace(base.model), mine)
    train = apply_overrides(dataclasses.replace(base.train), theirs)
    if spec.arch not in ("gpt2", "llama"):
        raise LabError(f"unknown arch {spec.arch!r}", hint="use arch=gpt2 or arch=llama")
    if spec.n_embd % spec.n_head:
        raise LabError(f"n_embd {spec.n_embd} is not a multiple of n_head {spec.n_head}",
                       hint="choose n_embd = n_head * head size")
    if spec.attention not in ("sdpa", "hf-sdpa", "eager"):
        raise LabError(f"unknown attention {spec.attention!r}", hint="use attention=sdpa, hf-sdpa or eager")
    if not spec.loss_in_forward and not any(m.split("=", 1)[0].strip() == "loss_chunk_size" for m in mine):
        spec.loss_chunk_size = 0            # the chunked loss lives in the forward: off with it, unless asked
    if spec.loss_chunk_size < 0 or (spec.loss_chunk_size and not spec.loss_in_forward):
        raise LabError(f"loss_chunk_size={spec.loss_chunk_size} needs a positive size and "
                       f"loss_in_forward=true",
                       hint="use loss_chunk_size=0 (off) or e.g. 16384 with loss_in_forward=true")
    return spec, train.validate()
