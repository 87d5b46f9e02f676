"""LoRA target matching as PEFT does it, the case mutation testing (`make mutation`) found untested."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from llmlab.errors import LabError
from llmlab.finetune.lora import add_lora


def test_a_target_names_a_whole_module_not_a_suffix_of_one():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=32, n_positions=16))
    # PEFT: a module matches when its name is the target or ends with "." + target; "proj" is neither for
    # c_proj
    with pytest.raises(LabError, match="no module of the model matches"):
        add_lora(model, ["proj"])
    assert add_lora(model, ["attn.c_proj"]) == ["transformer.h.0.attn.c_proj"]
