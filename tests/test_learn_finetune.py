"""Project 4's exercises (LoRA): llmlab's own code passes each grader (PEFT's LoRA through
llmlab.finetune.parity, the initial state and merge/unmerge by hand, PEFT's parameter count), the untouched
stub fails it clearly, planted bugs fail it; `run finetune --mine` with llmlab's pieces copied matches PEFT's
fine-tune and falls back per piece."""

import pytest

from learn_helpers import contract_tests, grade_text, planted
from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.check import check_project

PROJECT = project("finetune")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "lora": [
        ("scaled by alpha instead of alpha / r", "self.scaling = self.alpha / self.r",
         "self.scaling = self.alpha", False),
        ("B initialised random instead of zero",
         "nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))",
         "nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5)); nn.init.normal_(self.lora_B, std=0.02)",
         False),
        ("merge adds B A untransposed into Conv1D's (in, out) weight",
         "return delta.T if self.fan_in_fan_out else delta", "return delta", False),
        ("(B A)ᵀ merged into nn.Linear too", "return delta.T if self.fan_in_fan_out else delta",
         "return delta.T", False),
        ("the base layer left trainable", "            p.requires_grad_(False)\n", "            pass\n",
         False),
        ("A initialised with a normal of std 0.02 (PEFT's Kaiming bound ignored)",
         "nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))", "nn.init.normal_(self.lora_A, std=0.02)",
         False),
        ("merging twice adds the update twice", "        if not self.merged:\n", "        if True:\n", False),
        ("the update still added once merged", "        if self.merged:\n            return out\n", "",
         False),
    ],
    "trainable": [
        ("tied weights counted twice (every module's own parameters)",
         "total = sum(p.numel() for p in seen.values())",
         "total = sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False))", False),
        ("frozen parameters counted as trainable", "if p.requires_grad)", ")", False),
        ("share of the frozen part", "round(trainable / total, 6)", "round(1 - trainable / total, 6)", False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("finetune", BUGS)


def test_a_wrong_scaling_is_said_in_words(tmp_path):
    text = planted("finetune", "lora", "self.scaling = self.alpha / self.r", "self.scaling = self.alpha")
    message = grade_text(tmp_path, "finetune", "lora", text).message
    assert "self.scaling" in message and "alpha / r = 16 / 8" in message and "expected 2" in message


def test_the_peft_comparison_catches_what_the_hand_checks_cannot(tmp_path):
    """A dropout applied after A instead of before it: same eval forward, different training forward and
    gradients, so only the comparison with PEFT (train mode, dropout 0.1, same seed) can see it."""
    text = planted("finetune", "lora", "F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)",
                   "F.linear(self.dropout(F.linear(x, self.lora_A)), self.lora_B)")
    message = grade_text(tmp_path, "finetune", "lora", text).message
    assert message.startswith("against PEFT's LoRA") and "gradient of" in message


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    """An HF model directory: a random GPT-2 and a BPE trained on part of the corpus (as
    tests/test_finetune_train)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from llmlab.data import load_corpus
    from llmlab.tokenizer.bpe import EOT, BPETokenizer
    from llmlab.training.checkpoint import save_model_dir

    root = tmp_path_factory.mktemp("learn-finetune")
    docs = load_corpus("python-docs").documents[:20]
    tok = BPETokenizer.train("\n".join(d.text for d in docs), vocab_size=300, special_tokens=[EOT],
                             progress=False)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=tok.vocab_size,
                                       n_positions=64,
                                       bos_token_id=tok.eot_id, eos_token_id=tok.eot_id))
    save_model_dir(model, root / "base", tokenizer=tok)
    return root / "base"


def _solve(root, skip=()):
    main(["learn", "start", "finetune", "--dir", str(root)])
    for ex in PROJECT.exercises:
        if ex.name not in skip:
            (root / "finetune" / ex.stub).write_text(PROJECT.solved_text(ex))


def test_run_mine_with_llmlabs_pieces_matches_peft(tmp_path, base_dir):
    from llmlab.learn.mine_finetune import run_finetune

    _solve(tmp_path)
    _, modules = check_project(tmp_path, PROJECT)
    assert sorted(modules) == sorted(NAMES)
    r = run_finetune(tmp_path / "finetune", modules, steps=6, log=lambda m: None, model=str(base_dir))
    assert len(r["losses_mine"]) == 6 and r["max_loss_diff"] < 1e-4
    assert r["losses_mine"][-1] < r["losses_mine"][0] and r["val_mine"] < r["val_before"]
    assert abs(r["val_mine"] - r["val_peft"]) < 1e-4 and abs(r["val_mine_merged"] - r["val_mine"]) < 1e-4
    assert r["merged_max_diff"] < 1e-5 and r["layers"] == 8
    assert r["count_mine"]["trainable_params"] == r["count_peft"]["trainable_params"] > 0


def test_the_learners_layer_is_the_one_that_trains(tmp_path, base_dir):
    """A passing LoRALinear of the learner's that counts its forwards: the fine-tune must call it, and a layer
    whose merge is wrong shows in the merged weights."""
    from llmlab.learn.mine_finetune import run_finetune

    _solve(tmp_path)
    path = tmp_path / "finetune" / "lora.py"
    path.write_text(path.read_text() + "\n\nCALLS = []\n_forward = LoRALinear.forward\n\n\n"
                    "def _counted(self, x):\n    CALLS.append(1)\n    return _forward(self, x)\n\n\n"
                    "LoRALinear.forward = _counted\n")
    _, modules = check_project(tmp_path, PROJECT)
    modules["lora"].CALLS.clear()
    r = run_finetune(tmp_path / "finetune", modules, steps=2, log=lambda m: None, model=str(base_dir))
    assert len(modules["lora"].CALLS) >= 2 * 8 and r["max_loss_diff"] < 1e-4


def test_a_stubbed_piece_falls_back_and_says_so(tmp_path, base_dir, capsys, monkeypatch):
    import llmlab.learn.mine_finetune as mine

    monkeypatch.setattr(mine, "BASE_MODEL", str(base_dir))       # not the 20 s pretrained `tiny`
    _solve(tmp_path, skip=("trainable",))
    assert main(["learn", "run", "finetune", "--mine", "--steps", "3", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  trainable" in out and "yours     lora" in out
    assert "trainable parameters: yours" in out and "merged weights (8 layers)" in out
    assert "run --mine (3 steps; mine: lora): LoRA val loss" in (tmp_path / "PROGRESS.md").read_text()
