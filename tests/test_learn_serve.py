"""Project 9's exercises (serving): llmlab's own code passes each grader (the allocator and the scheduler side
by side with llmlab's on random request streams, the prefix hash against llmlab's chain, the SSE encoder
against the API's and the OpenAI client's decoder), the untouched stub fails it clearly, planted bugs fail it;
`run serve
--mine` serves on the learner's pieces with HF's greedy tokens and falls back per piece."""


from learn_helpers import contract_tests, grade_text, planted
from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.mine_serve import PROMPTS, STREAMED

PROJECT = project("serve")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "allocator": [
        ("a block freed while others still hold it",
         "self.refs[block] -= 1\n        if self.refs[block] == 0:",
         "self.refs[block] = 0\n        if True:", False),
        ("a double free let through", "if self.refs[block] <= 0:\n            raise RuntimeError",
         "if False:\n            raise RuntimeError", False),
        ("the most recently released cached block evicted (MRU, not LRU)",
         "self.evictable.popitem(last=False)        # the least recently used",
         "self.evictable.popitem(last=True)        # the least recently used", False),
        ("a cache hit left among the evictable blocks", "            del self.evictable[block]\n",
         "            pass\n", False),
        ("an evicted block keeps its old name", "            del self.by_hash[self.hash_of[block]]\n"
         "            self.hash_of[block] = None\n            self.evictions += 1",
         "            self.evictions += 1", False),
    ],
    "prefix_hash": [
        ("the hash chain without the parent hash", 'hashlib.blake2b(parent + array("q", tokens).tobytes()',
         'hashlib.blake2b(array("q", tokens).tobytes()', False),
        ("ids packed as one byte each", 'parent + array("q", tokens).tobytes()',
         "parent + bytes(t % 256 for t in tokens)",
         False),
        ("a 32-byte digest", "tobytes(), digest_size=16)", "tobytes(), digest_size=32)", False),
    ],
    "scheduler": [
        ("a running request's chunk exceeds the token budget",
         "n = min(len(req.token_ids) - req.num_computed, budget)",
         "n = len(req.token_ids) - req.num_computed", False),
        ("a whole prompt admitted past the budget (no chunked prefill)",
         "n = min(req.num_tokens - computed, budget)",
         "n = req.num_tokens - computed", False),
        ("the oldest request preempted instead of the newest", "victim = self.running.pop()",
         "victim = self.running.pop(0)", False),
        ("admitting in the step that preempted", "while not preempted and self.waiting", "while self.waiting",
         False),
        ("max_num_seqs ignored", " and len(self.running) < self.max_num_seqs", "", False),
    ],
    "sse": [
        ("the blank line after the event missing", "))}\\n\\n\"", "))}\\n\"", False),
        ("non-ASCII escaped as \\uXXXX", "data, ensure_ascii=False", "data, ensure_ascii=True", False),
        ("JSON with spaces after the separators", "separators=(',', ':')", "separators=(', ', ': ')", False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("serve", BUGS)


def test_failing_cases_are_said_in_words(tmp_path):
    double = planted("serve", "allocator", "if self.refs[block] <= 0:\n            raise RuntimeError",
                     "if False:\n            raise RuntimeError")
    message = grade_text(tmp_path, "serve", "allocator", double).message
    assert "of a block nobody holds" in message and "must raise RuntimeError" in message
    greedy = planted("serve", "scheduler", "n = min(len(req.token_ids) - req.num_computed, budget)",
                     "n = len(req.token_ids) - req.num_computed")
    assert "over the token budget" in grade_text(tmp_path, "serve", "scheduler", greedy).message
    flat = planted("serve", "prefix_hash", 'hashlib.blake2b(parent + array("q", tokens).tobytes()',
                   'hashlib.blake2b(array("q", tokens).tobytes()')
    assert "expected" in grade_text(tmp_path, "serve", "prefix_hash", flat).message
    short = planted("serve", "sse", "))}\\n\\n\"", "))}\\n\"")
    assert "blank line" in grade_text(tmp_path, "serve", "sse", short).message


def test_run_mine_serves_on_the_learners_pieces_and_falls_back_per_piece(tmp_path, capsys):
    """llmlab's code in three files (the allocator counting its allocations), the SSE stub untouched: every
    completion equals HF's greedy tokens, the stream too (through llmlab's encoder), and the allocator ran."""
    main(["learn", "start", "serve", "--dir", str(tmp_path)])
    for ex in PROJECT.exercises:
        if ex.name != "sse":
            (tmp_path / "serve" / ex.stub).write_text(PROJECT.solved_text(ex))
    path = tmp_path / "serve" / "allocator.py"
    path.write_text(path.read_text() + "\n\nCALLS = []\n_allocate = BlockAllocator.allocate\n\n\n"
                    "def _counted(self):\n    CALLS.append(1)\n    return _allocate(self)\n\n\n"
                    "BlockAllocator.allocate = _counted\n")
    assert main(["learn", "run", "serve", "--mine", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  sse" in out and "yours     allocator" in out and "DIFFERS" not in out
    note = (tmp_path / "PROGRESS.md").read_text()
    assert (f"run --mine (mine: allocator, prefix_hash, scheduler): {len(PROMPTS)}/{len(PROMPTS)} "
            f"completions equal "
            f"HF's greedy generate, {STREAMED}/{STREAMED} streams") in note
    preempted = [line for line in out.splitlines() if line.startswith("preemptions")]
    assert preempted and int(preempted[0].split()[1]) > 0      # the small cache made the scheduler preempt
