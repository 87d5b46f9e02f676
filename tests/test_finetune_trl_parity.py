"""llmlab's chat SFT masks, DPO loss and GRPO loss against TRL's, on the same tiny model, batch and settings.

- SFT: the assistant-only labels of `chat_rows`/`encode_conversation` equal what TRL's SFTTrainer (with
  assistant_only_loss=True) tokenizes and collates for the same conversation.
- DPO: `DPOObjective` (loss and every parameter's gradient) equals `DPOTrainer._compute_loss` on the same
  model, batch (collated by TRL from the same pairs) and beta, in float64. TRL's fused LM-head kernel keeps
  float32 accumulators, so for the float64 check it is replaced by the plain log-softmax of the same model
  (`ExactLogProbs` below); the unpatched kernel is checked at float32 tolerance too.
- GRPO: `GRPOObjective` equals `GRPOTrainer._compute_loss` for the same prompts, completions of different
  lengths, advantages, old and reference log-probs, for loss types grpo and bnpo (loss and gradients,
  float64).
"""

from __future__ import annotations

import copy
import importlib.resources
import string

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl", reason="TRL is a test dependency (pip install -e .[dev])")
F = torch.nn.functional

# ChatML whose {% generation %} block starts where the generation prompt ends, so "what the assistant writes"
# means the same thing to TRL (generation markers) and to llmlab (prompt prefixes)
CHATML = ("{%- for m in messages %}{%- if m.role == 'assistant' %}{{- '<|im_start|>assistant\\n' }}"
          "{%- generation %}{{- m.content + '<|im_end|>\\n' }}{%- endgeneration %}"
          "{%- else %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}"
          "{%- endfor %}"
          "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3="},
                {"role": "assistant", "content": "5"}, {"role": "user", "content": "and 4*4?"},
                {"role": "assistant", "content": "16, since 4*4=16."}]
PAIRS = [{"prompt": [{"role": "user", "content": "2+3="}], "chosen": [{"role": "assistant", "content": "5"}],
          "rejected": [{"role": "assistant", "content": "6, I think"}]},
         {"prompt": [{"role": "user", "content": "what is 7*8?"}],
          "chosen": [{"role": "assistant", "content": "56."}],
          "rejected": [{"role": "assistant", "content": "54"}]}]


def chat_tokenizer(template: str = CHATML):
    from llmlab.tokenizer.char import CharTokenizer

    tok = CharTokenizer.train(string.printable, unk=True).to_hf()
    tok.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                            "additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = template
    return tok


def tiny_models(vocab: int, n: int):
    """n float64 GPT-2s: the first random, each next one a small random step away from it."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    base = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=vocab, n_positions=64,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None,
                                      eos_token_id=None, pad_token_id=None)).double()
    models = [base]
    for _ in range(n - 1):
        m = copy.deepcopy(base)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.05 * torch.randn_like(p))
        models.append(m)
    return models


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """TRL's trainers set accelerate's process-wide state; llmlab's Trainer (in later tests) builds its own
    Accelerator, which refuses a state left with other settings. Each test here leaves none behind."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


class ExactLogProbs:
    """TRL's chunked log-prob kernel's interface, computed with a plain log-softmax in the model's dtype."""

    @staticmethod
    def apply(hidden, weight, bias, labels, temperature, chunk, softcap, scale, outputs):
        assert softcap is None
        logits = F.linear(hidden, weight, bias) * scale / temperature
        logp = logits.log_softmax(-1)
        picked = logp.gather(-1, labels[:, None]).squeeze(-1)
        entropy = -(logp.exp() * logp).sum(-1)
        return (picked, entropy.detach(), torch.logsumexp(2 * logp, -1).detach(), logits.mean(-1).detach(),
                logits.argmax(-1) == labels)


def max_grad_diff(a, b) -> float:
    theirs = dict(b.named_parameters())
    return max((p.grad - theirs[n].grad).abs().max().item() for n, p in a.named_parameters())


def test_sft_assistant_masks_equal_trl(tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from llmlab.finetune.chat_sft import chat_rows, encode_conversation

    tok = chat_tokenizer()
    model, = tiny_models(len(tok), 1)
    trainer = SFTTrainer(model=model.float(), processing_class=tok, train_dataset=Dataset.from_list(
        [{"messages": CONVERSATION}]), args=SFTConfig(output_dir=str(tmp_path), assistant_only_loss=True,
                                                      report_to=[], use_cpu=True, max_steps=1))
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ours = encode_conversation(tok, CONVERSATION)
    assert batch["input_ids"][0].tolist() == ours.ids
    assert [label != -100 for label in batch["labels"][0].tolist()] == ours.learn
    assert 0 < sum(ours.learn) < len(ours.learn)
    # the batch source trains exactly those tokens: target t of row 0 is token t+1 where it is learned
    x, y = chat_rows(tok, [CONVERSATION], batch_size=1).eval_batch(0)
    assert y[0].tolist() == batch["labels"][0, 1:].tolist()


def test_sft_masks_differ_from_trls_qwen_template_only_by_the_cue_newline():
    """TRL's own qwen2_5_training template opens {% generation %} before the newline that ends the generation
    prompt, so TRL also trains that newline, which the prompt already holds at inference; llmlab does not."""
    from llmlab.finetune.chat_sft import encode_conversation

    template = (importlib.resources.files("trl") / "chat_templates" / "qwen2_5_training.jinja").read_text()
    tok = chat_tokenizer(template)
    theirs = tok.apply_chat_template(CONVERSATION, return_dict=True, return_assistant_tokens_mask=True)
    ours = encode_conversation(tok, CONVERSATION)
    assert theirs["input_ids"] == ours.ids
    extra = [i for i, (a, b) in enumerate(zip(theirs["assistant_masks"], ours.learn, strict=True)) if a != b]
    assert len(extra) == 2
    assert all(theirs["assistant_masks"][i] and tok.decode(ours.ids[i]) == "\n" for i in extra)


@pytest.fixture
def exact_kernel(monkeypatch):
    import trl.trainer.utils

    monkeypatch.setattr(trl.trainer.utils, "_ChunkedLogProbFunction", ExactLogProbs)


def _dpo_trainer(tmp_path, tok, policy, reference, beta):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    return DPOTrainer(model=copy.deepcopy(policy), ref_model=copy.deepcopy(reference), processing_class=tok,
                      train_dataset=Dataset.from_list(PAIRS),
                      args=DPOConfig(output_dir=str(tmp_path), beta=beta, report_to=[], use_cpu=True,
                                     max_steps=1, per_device_train_batch_size=len(PAIRS)))


def _ours_dpo(tok, policy, reference, beta):
    from llmlab.finetune.dpo import DPOObjective, PreferencePairs

    pairs = PreferencePairs(tok, PAIRS, batch_size=len(PAIRS))
    pairs.compute_reference(reference)
    objective = DPOObjective(pairs, beta)
    mine = copy.deepcopy(policy).train()
    loss = objective(mine, *pairs._take(torch.arange(len(PAIRS))))
    loss.backward()
    return loss, mine, objective.rows[-1]


def test_dpo_loss_and_gradients_equal_trl_float64(tmp_path, exact_kernel):
    tok = chat_tokenizer()
    reference, policy = tiny_models(len(tok), 2)
    beta = 0.3
    trainer = _dpo_trainer(tmp_path, tok, policy, reference, beta)
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    theirs = trainer.model.train()
    their_loss = trainer._compute_loss(theirs, inputs, False)
    their_loss.backward()
    loss, mine, metrics = _ours_dpo(tok, policy, reference, beta)
    assert their_loss.dtype == torch.float64
    assert abs(loss.item() - their_loss.item()) < 1e-12
    assert max_grad_diff(mine, theirs) < 1e-12
    logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    assert metrics["reward_margin"] == pytest.approx(logged["rewards/margins"], abs=1e-12)
    assert metrics["reward_accuracy"] == pytest.approx(logged["rewards/accuracies"])
    assert metrics["logps_rejected"] == pytest.approx(logged["logps/rejected"], abs=1e-12)


def test_dpo_loss_equals_trl_with_its_float32_kernel(tmp_path):
    tok = chat_tokenizer()
    reference, policy = tiny_models(len(tok), 2)
    trainer = _dpo_trainer(tmp_path, tok, policy, reference, 0.1)
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    their_loss = trainer._compute_loss(trainer.model.train(), inputs, False)
    loss, _, _ = _ours_dpo(tok, policy, reference, 0.1)
    assert loss.item() == pytest.approx(their_loss.item(), abs=2e-4)     # float32 sums of ~20 log-probs


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo"])
def test_grpo_loss_and_gradients_equal_trl_float64(tmp_path, exact_kernel, loss_type):
    import types

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from llmlab.finetune.grpo import GRPOObjective, Rollout, group_advantages
    from llmlab.finetune.logprobs import gather_logprobs, model_logits

    tok = chat_tokenizer()
    reference, policy, old = tiny_models(len(tok), 3)
    group, temperature, epsilon, kl_beta = 4, 0.7, 0.2, 0.04
    # beta=0 at construction spares TRL loading a reference from the Hub; the loss reads beta and the
    # reference log-probs from the trainer and the batch, set below
    def no_reward(completions, **kw):
        return [0.0] * len(completions)

    trainer = GRPOTrainer(model=copy.deepcopy(policy), reward_funcs=no_reward, processing_class=tok,
                          train_dataset=Dataset.from_list([{"prompt": "2+3="}] * group),
                          args=GRPOConfig(output_dir=str(tmp_path), beta=0.0, epsilon=epsilon,
                                          loss_type=loss_type, num_generations=group,
                                          per_device_train_batch_size=group,
                                          temperature=temperature, report_to=[], use_cpu=True, max_steps=1))
    trainer.beta, trainer.current_gradient_accumulation_steps = kl_beta, 1
    g = torch.Generator().manual_seed(1)
    prompts = torch.randint(0, 90, (group, 5), generator=g)                  # (G, 5): one length, no left pad
    completions = torch.full((group, 6), tok.pad_token_id)
    mask = torch.zeros(group, 6, dtype=torch.long)
    for i, n in enumerate([3, 6, 1, 4]):                       # the lengths differ: the mask matters
        completions[i, :n], mask[i, :n] = torch.randint(0, 90, (n,), generator=g), 1
    advantages = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), group).double()
    x = torch.cat([prompts, completions], 1)[:, :-1]
    y = torch.cat([torch.full_like(prompts, -100), completions.masked_fill(mask == 0, -100)], 1)[:, 1:]
    with torch.no_grad():
        old_logps = gather_logprobs(model_logits(old, x) / temperature, y)
        ref_logps = gather_logprobs(model_logits(reference, x) / temperature, y)
    theirs = trainer.model.train()
    their_loss = trainer._compute_loss(theirs, {
        "prompt_ids": prompts, "prompt_mask": torch.ones_like(prompts), "completion_ids": completions,
        "completion_mask": mask, "advantages": advantages, "old_per_token_logps": old_logps[:, -6:],
        "ref_per_token_logps": ref_logps[:, -6:], "num_items_in_batch": mask.sum()})
    their_loss.backward()
    cfg = types.SimpleNamespace(temperature=temperature, epsilon=epsilon, kl_beta=kl_beta,
                                loss_type=loss_type, kl_correction=trainer.args.use_bias_correction_kl)
    source = types.SimpleNamespace(current=Rollout(x, y, old_logps, ref_logps, advantages, {}))
    mine = copy.deepcopy(policy).train()
    loss = GRPOObjective(source, cfg)(mine, x, y)
    loss.backward()
    assert their_loss.dtype == torch.float64
    assert abs(loss.item() - their_loss.item()) < 1e-12
    assert max_grad_diff(mine, theirs) < 1e-12


def test_group_advantages_follow_trls_formula():
    from trl.trainer.utils import nanstd

    from llmlab.finetune.grpo import group_advantages

    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 1.0, 1.0])
    groups = rewards.view(-1, 4)
    expected = (groups - groups.mean(1, keepdim=True)) / (nanstd(groups, dim=1).unsqueeze(1) + 1e-4)
    assert torch.allclose(group_advantages(rewards, 4), expected.reshape(-1), atol=1e-6)
    assert group_advantages(rewards, 4)[4:8].abs().max() == 0      # a group of equal rewards teaches nothing
