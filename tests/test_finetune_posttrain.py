"""Post-training (chat SFT, DPO, GRPO) on the offline chain task: the guards against silent failures, the
direction of each objective's update, the clear errors, and one short run of each stage through the CLI.

The equality with TRL is in test_finetune_trl_parity.py; the accuracy demonstration over seeds is a command
(`llmlab finetune demo`) whose figures are in docs/results.md.
"""

from __future__ import annotations

import copy
import json

import pytest

torch = pytest.importorskip("torch")

from llmlab.errors import LabError  # noqa: E402
from llmlab.finetune.toy_task import ChainTask, exact_answer_reward  # noqa: E402


@pytest.fixture(scope="module")
def task():
    return ChainTask(seed=0, n_train=200, n_eval=8)


@pytest.fixture(scope="module")
def tok(task):
    return task.tokenizer()


def tiny_model(tok, seed: int = 0):
    from llmlab.finetune.posttrain_demo import ToyShape
    from llmlab.training.toy_gpt import build_toy_gpt

    torch.manual_seed(seed)
    return build_toy_gpt(ToyShape(n_layer=1, n_embd=32), len(tok), n_positions=64, sinusoidal=True)


def cfg(stage: str, *overrides: str):
    from llmlab.finetune.posttrain_presets import resolve_posttrain

    return resolve_posttrain("toy", list(overrides), stage=stage)


# ---- chat SFT: the two silent failures -------------------------------------------------------------------

def test_sft_refuses_a_tokenizer_without_chat_template(task, tok):
    from llmlab.finetune.chat_sft import chat_rows

    bare = copy.deepcopy(tok)
    bare.chat_template = None
    with pytest.raises(LabError, match="chat template"):
        chat_rows(bare, task.conversations(4), batch_size=2)


def test_mask_check_catches_a_loss_over_the_prompt(task, tok):
    from llmlab.finetune.chat_sft import check_assistant_only, encode_conversation

    chat = task.conversations(1)[0]
    ex = encode_conversation(tok, chat)
    right = [t if ok else -100 for t, ok in zip(ex.ids, ex.learn, strict=True)]
    check_assistant_only(tok, chat, ex.ids, right)                       # the assistant-only labels pass
    assert tok.decode([t for t in right if t != -100]).startswith(chat[1]["content"])
    with pytest.raises(LabError, match="prompt tokens"):
        check_assistant_only(tok, chat, ex.ids, list(ex.ids))             # plain LM labels: the prompt too
    with pytest.raises(LabError, match="no token"):
        check_assistant_only(tok, chat, ex.ids, [-100] * len(ex.ids))


def test_a_template_that_rewrites_earlier_turns_is_refused(task, tok):
    from llmlab.finetune.chat_sft import encode_conversation

    odd = copy.deepcopy(tok)      # renders the prompt one way and the finished conversation another
    odd.chat_template = ("{% for m in messages %}{{ m['role'][0] }}"
                         "{% if not add_generation_prompt %}!{% endif %}:{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}a:{% endif %}")
    with pytest.raises(LabError, match="prefix-stable"):
        encode_conversation(odd, task.conversations(1)[0])


def test_conversation_and_dataset_errors_name_the_missing_fields(tok):
    from llmlab.finetune.chat_sft import encode_conversation
    from llmlab.finetune.dpo import PreferencePairs

    with pytest.raises(LabError, match="no assistant turn"):
        encode_conversation(tok, [{"role": "user", "content": "1+1="}])
    with pytest.raises(LabError, match="lacks the fields rejected"):
        PreferencePairs(tok, [{"prompt": "1+1=", "chosen": "2."}], batch_size=1)


def test_jsonl_rows_without_the_stage_fields_are_refused(tmp_path):
    from llmlab.finetune.posttrain_data import load_rows

    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"question": "1+1=", "answer": "2"}) + "\n")
    with pytest.raises(LabError, match="lacks the fields prompt"):
        load_rows(str(path), "grpo")
    with pytest.raises(LabError, match="lacks the fields messages"):
        load_rows(str(path), "sft")


# ---- DPO and GRPO: each update moves the model the way its objective says ---------------------------------

def sgd_step(model, loss_fn, x, y, lr: float = 0.5) -> None:
    model.train()
    loss = loss_fn(model, x, y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    model.zero_grad()


def test_a_dpo_step_widens_the_margin_of_chosen_over_rejected(task, tok):
    from llmlab.finetune.dpo import DPOObjective, PreferencePairs
    from llmlab.finetune.logprobs import token_logprobs

    model = tiny_model(tok)
    pairs = PreferencePairs(tok, task.preference_pairs(model, tok, 16), batch_size=16)
    pairs.compute_reference(model)
    x, y = pairs._take(torch.arange(16))

    def margin():
        with torch.no_grad():
            chosen, rejected = token_logprobs(model, x, y).sum(-1).chunk(2)
        return (chosen - rejected).mean().item()

    before = margin()
    sgd_step(model, DPOObjective(pairs, beta=0.1), x, y, lr=0.01)     # small: the first-order direction
    assert margin() > before + 1e-3


def test_a_grpo_step_raises_rewarded_completions_and_lowers_the_others(task, tok):
    from llmlab.finetune.grpo import GroupRollouts, GRPOObjective
    from llmlab.finetune.logprobs import token_logprobs

    model = tiny_model(tok)
    # a reward that prefers short completions: a random model writes all lengths, so every group has signal
    def short(prompts, completions, answers):
        return [float(len(c) < 6) for c in completions]

    c = cfg("grpo", "batch_size=4", "group_size=8", "max_new_tokens=10", "kl_beta=0")
    rollouts = GroupRollouts(model, None, tok, task.prompts(8), short, c)
    x, y = rollouts.next_batch()
    adv = rollouts.current.advantages
    assert rollouts.current.metrics["reward_std"] > 0
    with torch.no_grad():
        before = token_logprobs(model, x, y).sum(-1)
    sgd_step(model, GRPOObjective(rollouts, c), x, y, lr=0.2)
    with torch.no_grad():
        change = token_logprobs(model, x, y).sum(-1) - before
    assert change[adv > 0].mean() > 0 > change[adv < 0].mean()


def test_grpo_sampling_is_seeded(task, tok):
    from llmlab.finetune.grpo import GroupRollouts

    c = cfg("grpo", "batch_size=2", "group_size=4", "max_new_tokens=6")
    runs = [GroupRollouts(tiny_model(tok), None, tok, task.prompts(8), exact_answer_reward, c).next_batch()[0]
            for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    c2 = cfg("grpo", "batch_size=2", "group_size=4", "max_new_tokens=6", "seed=1")
    other = GroupRollouts(tiny_model(tok), None, tok, task.prompts(8), exact_answer_reward, c2)
    other = other.next_batch()[0]
    assert not torch.equal(runs[0][:, :other.shape[1]], other[:, :runs[0].shape[1]])


def test_a_reward_function_that_raises_is_named_with_its_error(task, tok):
    from llmlab.finetune.grpo import GroupRollouts

    def broken_reward(prompts, completions, answers):
        return [int(c) for c in completions]          # a completion is not a number

    c = cfg("grpo", "batch_size=2", "group_size=2", "max_new_tokens=4")
    rollouts = GroupRollouts(tiny_model(tok), None, tok, task.prompts(4), broken_reward, c)
    with pytest.raises(LabError, match="broken_reward raised ValueError"):
        rollouts.next_batch()
    rollouts.reward_fn = lambda prompts, completions, answers: [1.0]     # one reward for four completions
    with pytest.raises(LabError, match="one number per completion"):
        rollouts.next_batch()


# ---- the commands: sft -> dpo -> grpo, each leaving an HF model directory --------------------------------

def test_sft_then_dpo_then_grpo_through_the_cli(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.cli import main

    small = ["--set", "batch_size=4", "--set", "problems=64", "--set", "eval_problems=8"]
    assert main(["finetune", "sft", "--model", "tiny", "--max-steps", "3", "--out", str(tmp_path / "sft"),
                 *small]) == 0
    sft_model = str(tmp_path / "sft" / "model")
    assert main(["finetune", "dpo", "--model", sft_model, "--max-steps", "2", "--out", str(tmp_path / "dpo"),
                 "--method", "lora-scratch", *small]) == 0
    assert main(["finetune", "grpo", "--model", sft_model, "--max-steps", "2",
                 "--out", str(tmp_path / "grpo"),
                 "--set", "group_size=2", "--set", "max_new_tokens=6", *small]) == 0
    for stage in ("sft", "dpo", "grpo"):
        summary = json.loads((tmp_path / stage / "summary.json").read_text())
        assert summary["steps"] >= 2 and "held_out_after" in summary
        model = AutoModelForCausalLM.from_pretrained(tmp_path / stage / "model")
        assert AutoTokenizer.from_pretrained(tmp_path / stage / "model").chat_template
        assert not any("lora" in n for n, _ in model.named_parameters())
    lines = (tmp_path / "grpo" / "objective.jsonl").read_text().splitlines()
    watched = {"reward", "reward_std", "kl", "clip_fraction", "completion_length", "entropy"}
    assert watched <= set(json.loads(lines[0]))
    # DPO from a fresh model is refused (it needs a model that already answers), exit 2 with the hint
    assert main(["finetune", "dpo", "--model", "tiny", "--out", str(tmp_path / "bad")]) == 2
