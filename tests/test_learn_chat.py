"""Project 5's exercises (chatbot): llmlab's own code passes each grader (torch's per-channel quantiser and
the half-step bound; llmlab's context planner on random conversations, with invariants of its own), the
untouched stub fails it clearly, planted bugs fail it; `run chat --mine` plans every turn as llmlab does and
falls back per piece."""


from learn_helpers import contract_tests, grade_text, planted
from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.check import check_project
from llmlab.learn.mine_chat import TURNS, run_chat

PROJECT = project("chat")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "quantize": [
        ("one scale for the whole tensor instead of one per output channel",
         "scale = w.abs().amax(dim=1) / QMAX",
         "scale = w.abs().amax().expand(w.shape[0]) / QMAX", False),
        ("rounding with floor", "torch.round(w / scale[:, None])", "torch.floor(w / scale[:, None])", False),
        ("rounding halves away from zero", "torch.round(w / scale[:, None])",
         "torch.trunc(w / scale[:, None] + torch.sign(w) * 0.5)", False),
        ("an all-zero row divided by a zero scale",
         "    scale = torch.where(scale > 0, scale, torch.ones_like(scale))", "    pass", False),
        ("scale by 128 (the int8 minimum) instead of 127", "scale = w.abs().amax(dim=1) / QMAX",
         "scale = w.abs().amax(dim=1) / 128", False),
        ("dequantised along the wrong axis", "q.to(dtype) * scale.to(dtype)[:, None]",
         "q.to(dtype) * scale.to(dtype)[None, : q.shape[1]]", False),
    ],
    "context": [
        ("the newest message dropped", "return system_message(system, memory[:n_memory]) + kept + [newest]",
         "return system_message(system, memory[:n_memory]) + kept", False),
        ("the system prompt's tokens counted twice", "return llm.count_chat_tokens(build(n_drop, n_memory))",
         "return llm.count_chat_tokens(build(n_drop, n_memory)) + llm.count_tokens(system or '')", False),
        ("the newest exchanges dropped first", "kept = [m for group in groups[n_drop:] for m in group]",
         "kept = [m for group in groups[:len(groups) - n_drop] for m in group]", False),
        ("the answer's room not kept (budget = the whole window)", "budget = window - max_new_tokens",
         "budget = window", False),
        ("one exchange too many dropped", "return plan(lo, len(memory), count(lo, len(memory)))",
         "return plan(min(lo + 1, len(groups)), len(memory), count(min(lo + 1, len(groups)), len(memory)))",
         False),
        ("messages dropped one by one, not as whole exchanges",
         "if message[\"role\"] == \"user\" or not groups:", "if True:", False),
        ("the last memory notes kept instead of the first",
         "memory_kept=memory[:n_memory], memory_dropped=memory[n_memory:]",
         "memory_kept=memory[len(memory) - n_memory:], memory_dropped=memory[:len(memory) - n_memory]",
         False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("chat", BUGS)


def test_failing_cases_are_said_in_words(tmp_path):
    floor = planted("chat", "quantize", "torch.round(w / scale[:, None])", "torch.floor(w / scale[:, None])")
    message = grade_text(tmp_path, "chat", "quantize", floor).message
    assert "differ from torch.quantize_per_channel's" in message and "W / s =" in message
    newest = planted("chat", "context", "return system_message(system, memory[:n_memory]) + kept + [newest]",
                     "return system_message(system, memory[:n_memory]) + kept")
    message = grade_text(tmp_path, "chat", "context", newest).message
    assert (
        "the newest user message must always be the last message" in message and "conversation #" in message
    )


def test_the_invariants_judge_a_plan_on_their_own(tmp_path):
    """A planner that keeps too little but says so consistently (exact count, within budget, whole exchanges)
    still fails: nothing more could fit is checked against llmlab's plan, with the numbers."""
    text = planted("chat", "context", "return plan(lo, len(memory), count(lo, len(memory)))",
                   "return plan(len(groups), len(memory), count(len(groups), len(memory)))")
    message = grade_text(tmp_path, "chat", "context", text).message
    assert "than the" in message and "llmlab drops (the fewest oldest WHOLE exchanges" in message


def _solve(root, skip=()):
    main(["learn", "start", "chat", "--dir", str(root)])
    for ex in PROJECT.exercises:
        if ex.name not in skip:
            (root / "chat" / ex.stub).write_text(PROJECT.solved_text(ex))


def test_run_mine_with_llmlabs_pieces_plans_every_turn_as_llmlab(tmp_path):
    _solve(tmp_path)
    _, modules = check_project(tmp_path, PROJECT)
    assert sorted(modules) == sorted(NAMES)
    r = run_chat(tmp_path / "chat", modules)
    assert r["mine"] == r["reference"] and len(r["mine"]) == len(TURNS)
    last = r["mine"][-1]
    assert last["kept"][-1] == len(TURNS) and last["kept"][0] > 1 and last["dropped"] > 0    # old turns went
    assert all(row["tokens"] <= row["budget"] for row in r["mine"])
    assert r["int8_vs_reference_int8"] == 0.0 and 0 < r["int8_vs_float"] < 0.05


def test_the_learners_planner_is_the_one_that_runs(tmp_path):
    """A passing planner that counts its calls (the chat must call it on every turn), and one that keeps one
    exchange fewer than it could (every turn after the window fills must then differ from llmlab's)."""
    _solve(tmp_path)
    path = tmp_path / "chat" / "context.py"
    path.write_text(path.read_text() + "\n\nCALLS = []\n_inner = fit_context\n\n\n"
                    "def fit_context(*args, **kw):\n    CALLS.append(1)\n    return _inner(*args, **kw)\n")
    _, modules = check_project(tmp_path, PROJECT)
    modules["context"].CALLS.clear()
    r = run_chat(tmp_path / "chat", modules)
    assert len(modules["context"].CALLS) >= len(TURNS) and r["mine"] == r["reference"]
    lazy = planted("chat", "context", "return plan(lo, len(memory), count(lo, len(memory)))",
                   "return plan(min(lo + 1, len(groups)), len(memory), count(min(lo + 1, len(groups)), "
                   "len(memory)))")
    from llmlab.learn.learner_code import load_module

    path.write_text(lazy)
    r = run_chat(tmp_path / "chat2", {"context": load_module(path)})
    assert r["mine"] != r["reference"]


def test_a_stubbed_piece_falls_back_and_says_so(tmp_path, capsys):
    _solve(tmp_path, skip=("quantize",))
    assert main(["learn", "run", "chat", "--mine", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  quantize" in out and "yours     context" in out
    assert "turns in the prompt (yours / llmlab)" in out and "differs" not in out
    assert f"run --mine (mine: context): {len(TURNS)}/{len(TURNS)} turns planned as llmlab does" in \
        (tmp_path / "PROGRESS.md").read_text()
