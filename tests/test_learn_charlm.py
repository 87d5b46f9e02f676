"""Project 3's exercises (char LM + decoding): llmlab's own code passes each grader (torch's cells,
transformers' warpers and generate, torch's clipping and schedulers), the untouched stub fails it clearly,
planted bugs fail it; `run charlm --mine` with llmlab's pieces copied reproduces the reference run exactly and
falls back per piece."""


from learn_helpers import contract_tests, grade_text, planted
from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.check import check_project
from llmlab.learn.mine_charlm import run_charlm

PROJECT = project("charlm")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "rnn_cell": [
        ("sigmoid in place of tanh", "return torch.tanh(z)", "return torch.sigmoid(z)", False),
        ("the recurrent weight not transposed", "h @ weight_hh.T", "h @ weight_hh", False),
        ("bias_hh left out", "z = z + bias_ih + bias_hh", "z = z + bias_ih", False),
    ],
    "lstm_cell": [
        ("the forget gate uses the input gate's rows", "c = torch.sigmoid(f) * c", "c = torch.sigmoid(i) * c",
         False),
        ("gate order i, f, o, g instead of torch's i, f, g, o", "i, f, g, o = z.chunk(4, dim=-1)",
         "i, f, o, g = z.chunk(4, dim=-1)", False),
        ("h' from the candidate, not the new cell", "torch.sigmoid(o) * torch.tanh(c), c",
         "torch.sigmoid(o) * torch.tanh(g), c", False),
    ],
    "temperature": [
        ("temperature applied as a multiply", "return logits / namespace", "return logits * namespace",
         False),
        ("a temperature-0 row divided by zero", "return logits / namespace(t).where(t > 0, t, 1.0)",
         "return logits / t", False),
        ("the caller's logits overwritten", "return logits / namespace(t).where(t > 0, t, 1.0)",
         "return logits.div_(namespace(t).where(t > 0, t, 1.0))", False),
    ],
    "top_k": [
        ("exactly k kept: ties at the k-th value dropped", "remove = (logits < kth) & (k_col > 0)",
         "remove = (logits.argsort(dim=-1, descending=True).argsort(dim=-1) >= k_col) & (k_col > 0)", False),
        ("k + 1 tokens kept", "take_last(sorted_desc, (k_col - 1).clip(0, None))",
         "take_last(sorted_desc, k_col.clip(None, logits.shape[-1] - 1))", False),
        ("a k = 0 row filtered instead of left alone", "remove = (logits < kth) & (k_col > 0)",
         "remove = logits < kth", False),
    ],
    "top_p": [
        ("one token too few: the token that crosses p dropped", "remove_sorted = cumulative <= (1.0 - p_col)",
         "remove_sorted = (cumulative - sorted_logits.softmax(dim=-1)) < (1.0 - p_col)", False),
        ("the most likely token not always kept", "    remove_sorted[..., -1] = False", "    pass", False),
        ("sorted the wrong way (keeps the unlikely tail)", "sort_last(logits)",
         "sort_last(logits, descending=True)",
         False),
    ],
    "beam": [
        ("length penalty applied as a multiply, not a divide by len ** alpha",
         "final = cand_scores / ((cur + 1 - start) ** length_penalty)",
         "final = cand_scores * ((cur + 1 - start) ** length_penalty)", False),
        ("the prompt counted in the length", "final = cand_scores / ((cur + 1 - start) ** length_penalty)",
         "final = cand_scores / ((cur + 1) ** length_penalty)", False),
        ("every beam starts at score 0 (N copies of one hypothesis)", "running_scores[0] = 0.0",
         "running_scores[:] = 0.0", False),
        ("only N candidates kept per step", "k = max(2, 1 + len(eos)) * n", "k = n", False),
    ],
    "train_step": [
        ("warmup off by one (lr 0 at step 0)", "warmup_then_decay(step + 1, cfg.warmup_steps + 1,",
         "warmup_then_decay(step, cfg.warmup_steps,", False),
        ("clipping by value instead of by the global norm", "        g.mul_(coef)\n",
         "        g.clamp_(-max_norm, max_norm)\n", False),
        ("gradients never cleared", "    optimizer.zero_grad(set_to_none=True)", "    pass", False),
        ("cosine decays to 0, not to min_lr", "cfg.decay_steps + 1, cfg.lr, cfg.min_lr,",
         "cfg.decay_steps + 1, cfg.lr, 0.0,", False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("charlm", BUGS)


def test_a_failing_case_is_said_in_words(tmp_path):
    text = planted("charlm", "top_p", "remove_sorted = cumulative <= (1.0 - p_col)",
                   "remove_sorted = (cumulative - sorted_logits.softmax(dim=-1)) < (1.0 - p_col)")
    message = grade_text(tmp_path, "charlm", "top_p", text).message
    assert "top_p_filter(logits, 0.7)" in message and "keeps 1 tokens, transformers keeps 2" in message


def _solve(root, skip=()):
    main(["learn", "start", "charlm", "--dir", str(root)])
    for ex in PROJECT.exercises:
        if ex.name not in skip:
            (root / "charlm" / ex.stub).write_text(PROJECT.solved_text(ex))


def test_run_mine_with_llmlabs_pieces_reproduces_the_reference_exactly(tmp_path):
    _solve(tmp_path)
    _, modules = check_project(tmp_path, PROJECT)
    assert sorted(modules) == sorted(NAMES)
    result = run_charlm(tmp_path / "charlm", modules, steps=12, tokens=20, log=lambda m: None)
    assert result["identical"] and len(result["mine"]) == 12
    assert result["reference"][-1] < result["reference"][0]
    assert result["mine_texts"]["top-k"] and result["mine_texts"]["beam"]


def test_the_learners_pieces_are_the_ones_that_run(tmp_path):
    """A passing top-p and LSTM cell of the learner's that count their calls: decoding must call both."""
    _solve(tmp_path)
    for stub, name in (("top_p.py", "top_p_filter"), ("lstm_cell.py", "lstm_cell")):
        path = tmp_path / "charlm" / stub
        path.write_text(path.read_text() + f"\n\nCALLS = []\n_inner = {name}\n\n\n"
                        f"def {name}(*args, **kw):\n    CALLS.append(1)\n    return _inner(*args, **kw)\n")
    _, modules = check_project(tmp_path, PROJECT)
    for name in ("top_p", "lstm_cell"):
        modules[name].CALLS.clear()
    result = run_charlm(tmp_path / "charlm", modules, steps=3, tokens=5, log=lambda m: None)
    assert modules["top_p"].CALLS and modules["lstm_cell"].CALLS
    assert result["identical"]


def test_a_stubbed_piece_falls_back_and_says_so(tmp_path, capsys):
    _solve(tmp_path, skip=("beam",))
    assert main(["learn", "run", "charlm", "--mine", "--steps", "4", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  beam" in out and "yours     top_p" in out
    assert "(identical)" in out
    assert "run --mine (4 steps; mine: lstm_cell, temperature, top_k, top_p, train_step)" in \
        (tmp_path / "PROGRESS.md").read_text()
