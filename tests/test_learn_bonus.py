"""The bonus projects' exercises (agents, chain of thought, in-context learning): llmlab's own code passes
each grader (llmlab.agents.parser and .calculator, llmlab.experiments' extraction, voting and prompt builders
on hand and seeded cases), the untouched stub fails it clearly, planted bugs fail it; a calculator that hangs
fails its grade within seconds instead of hanging the check; `run agents|cot|icl --mine` reproduce llmlab's
runs exactly with llmlab's pieces copied in, run the learner's pieces, and fall back per piece."""

import os
import time
from pathlib import Path

import pytest

from learn_helpers import grade_text, planted
from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.check import check_project
from llmlab.learn.learner_code import load_module

KEYS = ("agents", "cot", "icl")
PLANT_CALL = ("    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in "
              "FUNCTIONS:\n")

# project -> exercise -> [(what, old, new, replace every occurrence)]
BUGS = {
    "agents": {
        "parser": [
            ("'Action:' with nothing after it accepted as a call", "    call = CALL.match(rest)\n",
             "    call = CALL.match(rest or \"none\")\n", False),
            ("the model's own Observation believed", "    text = text[:cut.start()] if cut else text\n",
             "    text = text\n", False),
            ("a final answer after the action wins",
             "if action and (not final or action.start() < final.start()):",
             "if action and not final:", False),
            ("the input cut at the first closer", "body = body[:body.rindex(closer)]",
             "body = body[:body.index(closer)]", False),
            ("the Action Input line ignored", "follow = ACTION_INPUT.search(text, action.end())",
             "follow = None", False),
        ],
        "calculator": [
            ("__import__ (any call that is not a math function) run by Python", PLANT_CALL,
             "    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in "
             "FUNCTIONS:\n"
             "        return eval(compile(ast.Expression(node), '<calc>', 'eval'))\n" + PLANT_CALL, False),
            ("no bound on powers (9**9**9 computed)", "            _check_power(left, right)\n",
             "            pass\n", False),
            ("no bound on round's digits", "            _check_digits(args[1])\n", "            pass\n",
             False),
            ("no depth limit", "    if depth > MAX_DEPTH:", "    if False:", False),
            ("True taken for a number", "if isinstance(node.value, bool) or not", "if not", False),
            ("attribute access allowed", "    what = {ast.Attribute",
             "    if isinstance(node, ast.Attribute):\n        return getattr(_eval(node.value, depth + 1), "
             "node.attr)\n"
             "    what = {ast.Attribute", False),
        ],
    },
    "cot": {
        "extract": [
            ("the first number instead of the last", "numbers[-1] if last else numbers[0]", "numbers[0]",
             False),
            ("the first stated answer instead of the last", "normalize_number(stated[-1])",
             "normalize_number(stated[0])",
             False),
            ("'7.0' and '7' kept apart", 'format(Decimal(value).normalize(), "f")',
             'format(Decimal(value), "f")', False),
            ("thousands separators kept", '.replace(",", "")', '.replace(",", ",")', False),
        ],
        "vote": [
            ("ties broken by set order (a different winner from run to run)", "next(a for a in answers if",
             "next(a for a in set(answers) if", False),
            ("ties broken alphabetically",
             'return next(a for a in answers if a not in (None, "") and counts[a] == best)',
             "return sorted(a for a in counts if counts[a] == best)[0]", False),
            ("missing answers vote", 'counts = Counter(a for a in answers if a not in (None, ""))',
             "counts = Counter(answers)", False),
        ],
    },
    "icl": {
        "few_shot": [
            ("the query before the examples",
             'text = f"{head}{shots}{task.input_name}: {item.question}\\n{task.output_name}:"',
             'text = f"{head}{task.input_name}: {item.question}\\n{task.output_name}:{shots}"', False),
            ("the blank line between examples dropped",
             '{task.output_name}: {d.answer}\\n\\n" for d in demos)',
             '{task.output_name}: {d.answer}\\n" for d in demos)', False),
            ("the instruction kept when turned off",
             'head = f"{task.instruction}\\n\\n" if instruction else ""',
             'head = f"{task.instruction}\\n\\n"', False),
            ("the demonstrations left out of the chat messages",
             'messages += [{"role": "user", "content": d.question}, {"role": "assistant", "content": '
             'd.answer}]',
             "pass", False),
        ],
        "demos": [
            ("the query among its own demonstrations", "others = [p for p in pool if p.id != query.id]",
             "others = list(pool)", False),
            ("a fresh shuffle for every k", 'random.Random(f"{seed}-{query.id}")',
             'random.Random(f"{seed}-{query.id}-{k}")',
             False),
            ("no refusal past the pool", "if k > len(others):", "if False:", False),
        ],
    },
}
ALL = [(key, ex.name) for key in KEYS for ex in project(key).exercises]


def test_every_exercise_has_at_least_two_planted_bugs():
    assert sorted((k, n) for k, exercises in BUGS.items() for n in exercises) == sorted(ALL)
    assert all(len(bugs) >= 2 for exercises in BUGS.values() for bugs in exercises.values())


@pytest.mark.parametrize(("key", "name"), ALL)
def test_llmlabs_own_code_passes(tmp_path, key, name):
    proj = project(key)
    verdict = grade_text(tmp_path, key, name, proj.solved_text(proj.exercise(name)))
    assert verdict.passed, verdict.message


@pytest.mark.parametrize(("key", "name"), ALL)
def test_the_untouched_stub_fails_clearly(tmp_path, key, name):
    proj = project(key)
    ex = proj.exercise(name)
    verdict = grade_text(tmp_path, key, name, proj.stub_text(ex))
    assert not verdict.passed
    assert verdict.message.startswith("not written yet:") and f"({ex.stub}:" in verdict.message


CASES = [(k, n, b) for k, exercises in BUGS.items() for n, bugs in exercises.items() for b in bugs]


@pytest.mark.parametrize(("key", "name", "bug"), CASES, ids=[f"{k}.{n}: {b[0]}" for k, n, b in CASES])
def test_a_planted_bug_fails(tmp_path, key, name, bug):
    _, old, new, every = bug
    verdict = grade_text(tmp_path, key, name, planted(key, name, old, new, every))
    assert not verdict.passed, f"the grader of {key} {name} passed a bug: {bug[0]}"
    assert verdict.message


def test_failing_cases_are_said_in_words(tmp_path):
    bug = BUGS["agents"]["calculator"][0]
    message = grade_text(tmp_path, "agents", "calculator", planted("agents", "calculator", *bug[1:])).message
    assert message.startswith("evaluate(\"__import__('os')\")") and ("expected a refusal "
                                                                     "(CalculatorError") in message
    bug = BUGS["agents"]["parser"][0]
    message = grade_text(tmp_path, "agents", "parser", planted("agents", "parser", *bug[1:])).message
    assert (
        "parse_step('Action:')" in message and "names no tool" in message and "got      ToolCall" in message
    )
    bug = BUGS["cot"]["vote"][1]
    message = grade_text(tmp_path, "cot", "vote", planted("cot", "vote", *bug[1:])).message
    assert "tie" in message and "was seen first" in message and "expected '7'" in message
    bug = BUGS["icl"]["few_shot"][0]
    message = grade_text(tmp_path, "icl", "few_shot", planted("icl", "few_shot", *bug[1:])).message
    assert "they differ at character" in message and "1 demonstrations" in message


def _children_running_isolated() -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"llmlab.learn.isolated" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("body", ["            _check_power(left, right)\n",
                                  "    if depth > MAX_DEPTH:\n"],
                         ids=["9**9**9 computed", "an endless Python loop"])
def test_a_hanging_calculator_fails_its_grade_in_seconds(tmp_path, body):
    """A calculator that would compute 9**9**9 (C code that no signal interrupts), or loop forever in Python,
    fails at the first hostile expression within its 2 s, and its child process is gone afterwards."""
    hang = "            pass\n" if "check_power" in body else ("    while depth >= 0:\n        pass\n    if "
                                                               "False:\n")
    start = time.perf_counter()
    verdict = grade_text(tmp_path, "agents", "calculator", planted("agents", "calculator", body, hang))
    seconds = time.perf_counter() - start
    assert not verdict.passed and "did not return within 2 s" in verdict.message
    assert seconds < 15, f"the grade took {seconds:.1f} s"
    assert _children_running_isolated() == []


def _solve(root, key, skip=()):
    proj = project(key)
    assert main(["learn", "start", key, "--dir", str(root)]) == 0
    for ex in proj.exercises:
        if ex.name not in skip:
            (root / key / ex.stub).write_text(proj.solved_text(ex))


def test_run_agents_mine_answers_step_for_step_as_llmlab(tmp_path):
    from llmlab.learn.mine_agents import QUESTIONS, run_agents

    _solve(tmp_path, "agents")
    _, modules = check_project(tmp_path, project("agents"))
    assert sorted(modules) == ["calculator", "parser"]
    r = run_agents(tmp_path / "agents", modules)
    assert r["mine"] == r["reference"] and len(r["mine"]) == len(QUESTIONS)
    # the slip went back to the model
    assert any(s[0] == "error" for row in r["mine"] for s in row["steps"])
    refused = [row for row in r["mine"] if row["answer"] == "refused by the tool"]
    assert len(refused) == 2 and all(row["steps"][0][3].startswith("Error") for row in refused)


def test_the_learners_agent_pieces_are_the_ones_that_run(tmp_path):
    """A passing parser that counts its calls must be called on every step; a calculator that answers every
    power one too high (it fails its grade, so loaded here by hand) changes the answer to 2 ^ 64."""
    from llmlab.learn.mine_agents import run_agents

    _solve(tmp_path, "agents")
    path = tmp_path / "agents" / "parser.py"
    path.write_text(path.read_text() + "\n\nCALLS = []\n_inner = parse_step\n\n\n"
                    "def parse_step(text):\n    CALLS.append(text)\n    return _inner(text)\n")
    _, modules = check_project(tmp_path, project("agents"))
    modules["parser"].CALLS.clear()
    r = run_agents(tmp_path / "agents", modules)
    assert len(modules["parser"].CALLS) == sum(len(row["steps"]) for row in r["mine"])
    calc = tmp_path / "agents" / "calculator.py"
    calc.write_text(calc.read_text().replace("value = _BINARY[type(node.op)](left, right)",
                                             "value = _BINARY[type(node.op)](left, right) + "
                                             "isinstance(node.op, ast.Pow | ast.BitXor)"))
    r = run_agents(tmp_path / "agents2", {"calculator": load_module(calc)})
    assert r["mine"][1]["answer"] == str(2 ** 64 + 1) and r["reference"][1]["answer"] == str(2 ** 64)


def test_run_cot_mine_votes_as_llmlab_and_voting_helps(tmp_path):
    from llmlab.learn.mine_cot import SAMPLES, N, run_cot_mine

    _solve(tmp_path, "cot")
    _, modules = check_project(tmp_path, project("cot"))
    r = run_cot_mine(tmp_path / "cot", modules)
    mine, ref = r["mine"], r["reference"]
    assert [row["answers"] for row in mine[SAMPLES]["rows"]] == [
        row["answers"] for row in ref[SAMPLES]["rows"]
    ]
    assert mine[1]["accuracy"] == ref[1]["accuracy"] and mine[SAMPLES]["accuracy"] == ref[SAMPLES]["accuracy"]
    assert mine[SAMPLES]["accuracy"] > mine[1]["accuracy"]
    assert len(list(Path(r["folder"]).glob("*.jsonl"))) == 4 and len(mine[SAMPLES]["rows"]) == N


def test_the_learners_extraction_is_the_one_that_runs(tmp_path):
    """An extraction that takes the first number (it fails its grade, so loaded here by hand) reads each
    rationale's first number, and the accuracies collapse."""
    from llmlab.learn.mine_cot import SAMPLES, run_cot_mine

    _solve(tmp_path, "cot")
    path = tmp_path / "cot" / "extract.py"
    path.write_text(planted("cot", "extract", "normalize_number(stated[-1])", "normalize_number(stated[0])")
                    .replace("numbers[-1] if last else numbers[0]", "numbers[0]")
                    .replace("stated = _ANSWER_IS.findall(text)", "stated = []"))
    r = run_cot_mine(tmp_path / "cot", {"extract": load_module(path)})
    assert r["mine"][SAMPLES]["accuracy"] < r["reference"][SAMPLES]["accuracy"] / 2


def test_run_icl_mine_builds_llmlabs_prompts_and_a_bad_builder_shows(tmp_path):
    from llmlab.learn.mine_icl import run_icl_mine

    _solve(tmp_path, "icl")
    _, modules = check_project(tmp_path, project("icl"))
    r = run_icl_mine(tmp_path / "icl", modules)
    assert r["same_prompts"] == r["prompts"] > 0 and r["mine"]["table"] == r["reference"]["table"]
    assert r["reference"]["table"][("reverse", 0)] == 0 and r["reference"]["table"][("reverse", 1)] == 1
    path = tmp_path / "icl" / "few_shot.py"
    path.write_text(planted("icl", "few_shot", '{task.output_name}: {d.answer}\\n\\n" for d in demos)',
                    '{task.output_name}: {d.answer}\\n" for d in demos)'))
    r = run_icl_mine(tmp_path / "icl2", {"few_shot": load_module(path)})
    assert r["same_prompts"] < r["prompts"] and r["mine"]["table"][("reverse", 4)] < 1


@pytest.mark.parametrize(("key", "skip", "yours", "note"), [
    ("agents", "calculator", "parser", "run --mine (mine: parser): 8/8 questions answered step for step"),
    ("cot", "vote", "extract", "run --mine (mine: extract): self-consistency"),
    ("icl", "demos", "few_shot", "run --mine (mine: few_shot): 120/120 prompts identical to llmlab's"),
])
def test_a_stubbed_piece_falls_back_and_says_so(tmp_path, capsys, key, skip, yours, note):
    _solve(tmp_path, key, skip=(skip,))
    assert main(["learn", "run", key, "--mine", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"llmlab’s  {skip}" in out and f"yours     {yours}" in out and "differs" not in out
    assert note in (tmp_path / "PROGRESS.md").read_text()
