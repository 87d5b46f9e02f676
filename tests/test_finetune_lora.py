"""llmlab's LoRA against PEFT's: forward, gradients, merges, training losses, adapters (tiny random GPT-2)."""

import copy

import pytest
import torch
from torch import nn

from llmlab.errors import LabError
from llmlab.finetune.lora import (
    LoRALinear,
    add_lora,
    lora_layers,
    merge_lora,
    strip_lora,
    trainable_parameters,
    unmerge_lora,
)
from llmlab.finetune.parity import (
    TOLERANCE,
    copy_peft_into_scratch,
    lora_peft_parity,
    peft_layers,
    peft_lora_config,
)

TARGETS = ["c_attn", "c_proj", "c_fc"]


def tiny_gpt2(seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=96, n_positions=32,
                                      bos_token_id=0, eos_token_id=0)).eval()


def with_random_b(model):
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.normal_(0.0, 0.05)
    return model


@pytest.mark.slow
def test_scratch_lora_equals_peft_forward_grads_merge_and_training():
    """Same A and B copied in -> same logits, same dA and dB (dropout 0.1, same seed), same merged weights,
    and the same losses over 5 AdamW steps on the same batches; all within TOLERANCE (float32)."""
    torch.manual_seed(1)
    batch = torch.randint(0, 96, (2, 16))        # one batch, five times: the loss has to fall
    report = lora_peft_parity(tiny_gpt2(), TARGETS, r=4, alpha=8.0, dropout=0.1, batches=[batch], steps=5,
                              lr=1e-2)
    assert report["layers"] == 2 * 4            # per block: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj
    for key, diff in report["max_abs_diff"].items():
        assert diff <= TOLERANCE[key], (key, diff)
    assert report["passed"]
    assert report["grad_A_norm"] > 1e-4          # B was made non-zero, so A's gradient is a real test
    assert report["losses_ours"][-1] < report["losses_ours"][0]   # the steps did train


def test_parity_check_sees_a_wrong_scaling():
    """The comparison can fail: the same factors with alpha/r off by 1% give different logits."""
    from peft import get_peft_model

    base = tiny_gpt2()
    peft_model = get_peft_model(copy.deepcopy(base), peft_lora_config(base, TARGETS, 4, 8.0, 0.0))
    with torch.no_grad():
        for layer in peft_layers(peft_model).values():
            layer.lora_B["default"].weight.normal_(0.0, 0.05)
    ours = copy.deepcopy(base)
    add_lora(ours, TARGETS, r=4, alpha=8.0)
    copy_peft_into_scratch(peft_model, ours)
    ids = torch.randint(0, 96, (2, 12))
    peft_model.eval(), ours.eval()
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        assert torch.allclose(ours(input_ids=ids).logits, expected, atol=TOLERANCE["forward"], rtol=0)
        next(iter(lora_layers(ours).values())).scaling *= 1.01
        assert (ours(input_ids=ids).logits - expected).abs().max() > 100 * TOLERANCE["forward"]


def test_nn_linear_layers_match_peft_too():
    """The other layer kind: nn.Linear (weight (out, in)), as in Llama-style models."""
    from peft import LoraConfig, get_peft_model

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.up, self.down = nn.Linear(8, 16), nn.Linear(16, 4)

        def forward(self, x):
            return self.down(torch.relu(self.up(x)))

    torch.manual_seed(0)
    base = Tiny()
    peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(r=2, lora_alpha=4, target_modules=["up",
                                                                                                   "down"]))
    ours = copy.deepcopy(base)
    add_lora(ours, ["up", "down"], r=2, alpha=4)
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            theirs = peft_model.base_model.model.get_submodule(name)
            theirs.lora_B["default"].weight.normal_()
            layer.lora_A.copy_(theirs.lora_A["default"].weight)
            layer.lora_B.copy_(theirs.lora_B["default"].weight)
    x = torch.randn(5, 8)
    peft_model(x).square().sum().backward()
    ours(x).square().sum().backward()
    assert torch.allclose(ours(x), peft_model(x), atol=1e-6, rtol=0)
    for name, layer in lora_layers(ours).items():
        theirs = peft_model.base_model.model.get_submodule(name)
        assert torch.allclose(layer.lora_A.grad, theirs.lora_A["default"].weight.grad, atol=1e-6, rtol=0)
        assert torch.allclose(layer.lora_B.grad, theirs.lora_B["default"].weight.grad, atol=1e-6, rtol=0)
    merge_lora(ours)
    merged = peft_model.merge_and_unload()
    assert torch.allclose(ours.up.base.weight, merged.up.weight, atol=1e-6, rtol=0)


def test_init_starts_at_the_base_model_and_only_lora_trains():
    base = tiny_gpt2()
    model = copy.deepcopy(base)
    names = add_lora(model, TARGETS, r=4, alpha=8.0)
    ids = torch.randint(0, 96, (2, 10))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, base(input_ids=ids).logits)   # B = 0
    for layer in lora_layers(model).values():
        assert not layer.lora_B.any()
        # Kaiming-uniform with a = sqrt(5) draws from U(-1/sqrt(in), 1/sqrt(in))
        assert layer.lora_A.abs().max() <= 1 / layer.lora_A.shape[1] ** 0.5
        assert layer.lora_A.std() > 0.1 / layer.lora_A.shape[1] ** 0.5
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    assert len(trainable) == 2 * len(names)
    # r (in + out) per layer, and the same count PEFT reports
    from peft import get_peft_model

    peft_model = get_peft_model(copy.deepcopy(base), peft_lora_config(base, TARGETS, 4, 8.0, 0.0))
    assert trainable_parameters(model)["trainable_params"] == peft_model.get_nb_trainable_parameters()[0]
    assert trainable_parameters(model)["trainable_params"] == sum(
        4 * sum(layer.lora_A.shape[1:] + layer.lora_B.shape[:1]) for layer in lora_layers(model).values())


def test_merge_unmerge_round_trip_and_strip():
    base = tiny_gpt2()
    model = with_random_b(copy.deepcopy(base))
    add_lora(model, TARGETS, r=4, alpha=8.0)
    with_random_b(model)
    ids = torch.randint(0, 96, (2, 10))
    weights = {n: m.base.weight.detach().clone() for n, m in lora_layers(model).items()}
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        merge_lora(model)
        assert all(m.merged for m in lora_layers(model).values())
        assert torch.allclose(model(input_ids=ids).logits, unmerged, atol=1e-5, rtol=0)
        changed = [not torch.equal(m.base.weight, weights[n]) for n, m in lora_layers(model).items()]
        assert all(changed)
        merge_lora(model)                        # twice is once
        unmerge_lora(model)
        for n, m in lora_layers(model).items():
            assert torch.allclose(m.base.weight, weights[n], atol=1e-6, rtol=0)
        assert torch.allclose(model(input_ids=ids).logits, unmerged, atol=1e-6, rtol=0)
        plain = strip_lora(model)
        assert not any(isinstance(m, LoRALinear) for m in plain.modules())
        assert torch.allclose(plain(input_ids=ids).logits, unmerged, atol=1e-5, rtol=0)


def test_scratch_adapter_loads_in_peft(tmp_path):
    """save_adapter writes PEFT's layout: PeftModel.from_pretrained reads it and computes the same logits."""
    from peft import PeftModel

    from llmlab.finetune.presets import FinetuneConfig
    from llmlab.finetune.scratch import save_adapter

    base = tiny_gpt2()
    ours = copy.deepcopy(base)
    add_lora(ours, TARGETS, r=4, alpha=8.0)
    with_random_b(ours)
    save_adapter(ours, tmp_path / "adapter", FinetuneConfig(r=4, alpha=8.0, lora_dropout=0.0,
                                                            target_modules=TARGETS))
    loaded = PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "adapter").eval()
    ids = torch.randint(0, 96, (2, 10))
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, ours(input_ids=ids).logits, atol=1e-6, rtol=0)


def test_bad_targets_and_rank_name_the_fix():
    with pytest.raises(LabError, match="no module of the model matches") as info:
        add_lora(tiny_gpt2(), ["q_proj"])
    assert "c_attn" in info.value.hint
    with pytest.raises(LabError, match="rank"):
        LoRALinear(nn.Linear(4, 4), r=0)
