"""The pretraining models: Hugging Face `GPT2LMHeadModel` or `LlamaForCausalLM` built from a `ModelSpec`,
with a padded vocabulary, GPT-2 initialisation, and the loss computed inside the forward.

    model = build_model(spec, vocab_size=tok.vocab_size, eot_id=eot)
    loss = causal_lm_loss_in_forward(model, x, y)     # the loss_fn handed to llmlab.training.Trainer

Why the loss goes inside the forward: the Trainer compiles the model, so a cross-entropy inside it is
fused with the lm_head's output (no (B, T, V) float32 copy of the logits), while one outside runs eagerly.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from llmlab.pretrain.presets import ModelSpec

FAST_SDPA = "llmlab_sdpa"


def padded_vocab(vocab_size: int, multiple: int = 64) -> int:
    """Round up so the embedding and lm_head matmuls have tensor-core friendly shapes (50257 -> 50304)."""
    return vocab_size if multiple <= 1 else math.ceil(vocab_size / multiple) * multiple


def register_fast_sdpa() -> str:
    """Register an attention variant: HF's SDPA call, but no materialised mask when none is needed.

    Under torch.compile, transformers (before torch 2.14) always builds the (T, T) causal mask, which
    rules out SDPA's flash and cuDNN kernels. Without padding and with as many queries as keys
    (training, a prompt's prefill), that mask is exactly `is_causal=True`, so return no mask then; every
    other case gets transformers' own SDPA mask. Nothing of this is saved: checkpoints load as plain sdpa.
    """
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def mask(*args: Any, **kwargs: Any) -> Any:
        q_length = kwargs.get("q_length")
        if q_length is None and kwargs.get("cache_position") is not None:   # older transformers
            q_length = kwargs["cache_position"].shape[0]
        if (
            kwargs.get("attention_mask") is None
            and q_length is not None
            and q_length == kwargs.get("kv_length")
        ):
            return None
        return sdpa_mask(*args, **kwargs)

    AttentionInterface.register(FAST_SDPA, sdpa_attention_forward)
    AttentionMaskInterface.register(FAST_SDPA, mask)
    return FAST_SDPA


def model_config(spec: ModelSpec, vocab_size: int, eot_id: int | None) -> Any:
    vocab = padded_vocab(vocab_size, spec.vocab_multiple)
    if spec.arch == "gpt2":
        from transformers import GPT2Config

        return GPT2Config(vocab_size=vocab, n_positions=spec.block_size, n_embd=spec.n_embd,
                          n_layer=spec.n_layer,
                          n_head=spec.n_head, n_inner=spec.intermediate_size, resid_pdrop=spec.dropout,
                          embd_pdrop=spec.dropout, attn_pdrop=spec.dropout, initializer_range=spec.init_std,
                          bos_token_id=eot_id, eos_token_id=eot_id, tie_word_embeddings=True)
    from transformers import LlamaConfig

    inner = spec.intermediate_size or 64 * math.ceil(8 * spec.n_embd / 3 / 64)
    return LlamaConfig(vocab_size=vocab, hidden_size=spec.n_embd, intermediate_size=inner,
                       num_hidden_layers=spec.n_layer, num_attention_heads=spec.n_head,
                       num_key_value_heads=spec.n_kv_head or spec.n_head,
                       max_position_embeddings=spec.block_size,
                       rope_theta=spec.rope_theta, attention_dropout=spec.dropout,
                       initializer_range=spec.init_std,
                       bos_token_id=eot_id, eos_token_id=eot_id, tie_word_embeddings=True)


def residual_projections(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The weights that write into the residual stream: attention output and MLP output, per block."""
    names = (".attn.c_proj.weight", ".mlp.c_proj.weight", ".self_attn.o_proj.weight", ".mlp.down_proj.weight")
    return [p for n, p in model.named_parameters() if n.endswith(names)]


@torch.no_grad()
def gpt2_init(model: torch.nn.Module, std: float = 0.02) -> None:
    """GPT-2's initialisation, for either family: every matrix N(0, std), biases 0, norms 1, and the
    residual projections N(0, std / sqrt(2 n_layer)) so the residual stream's variance stays ~constant
    with depth (2 additions per block)."""
    n_layer = getattr(model.config, "n_layer", None) or model.config.num_hidden_layers
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            p.normal_(0.0, std)
        elif "norm" in name or name.split(".")[-2].startswith("ln"):
            p.fill_(1.0)
        else:
            p.zero_()
    for p in residual_projections(model):
        p.normal_(0.0, std / math.sqrt(2 * n_layer))


def build_model(spec: ModelSpec, vocab_size: int, eot_id: int | None = None, seed: int | None = None) -> Any:
    """A freshly initialised HF causal LM whose `save_pretrained` folder is the checkpoint format."""
    from transformers import AutoModelForCausalLM

    if seed is not None:
        torch.manual_seed(seed)
    config = model_config(spec, vocab_size, eot_id)
    attention = {"sdpa": FAST_SDPA, "hf-sdpa": "sdpa", "eager": "eager"}[spec.attention]
    if attention == FAST_SDPA:
        register_fast_sdpa()
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attention)
    gpt2_init(model, spec.init_std)
    # name the loss: with none named, transformers logs a warning inside forward, a torch.compile graph break
    # that would split the cross-entropy from the model's graph
    model.loss_type = "ForCausalLM"
    if spec.loss_chunk_size and spec.loss_in_forward:
        from llmlab.pretrain.chunked_loss import use_chunked_loss

        use_chunked_loss(model, spec.loss_chunk_size)
    if padded_vocab(vocab_size, spec.vocab_multiple) > vocab_size:
        # the padding ids are never targets; keep HF's generate from ever choosing one
        model.generation_config.suppress_tokens = list(range(vocab_size, model.config.vocab_size))
    return model


def configure_compiler(spec: ModelSpec) -> None:
    """Process-wide torch.compile (inductor) options the spec asks for; call before the first compile."""
    if spec.coordinate_descent:
        import torch._inductor.config as inductor

        # after picking a kernel's block sizes heuristically, try neighbouring ones and keep the fastest
        # (the setting gpt-fast and modded-nanogpt use); costs compile time, not correctness
        inductor.coordinate_descent_tuning = True


def causal_lm_loss_in_forward(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy computed by the model's own forward; y is x shifted by one already,
    so it goes in as `shift_labels` (transformers would otherwise shift `labels` a second time)."""
    y = y.contiguous()  # a shifted view of the window; transformers flattens it with .view
    return model(input_ids=x, labels=y, shift_labels=y, use_cache=False).loss
