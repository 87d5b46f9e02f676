"""Project 2's exercises (BPE): llmlab's own code passes each grader (HF BpeTrainer, HF's Split
pre-tokenizer, tiktoken), the untouched stub fails it clearly, and planted bugs fail it."""


from learn_helpers import contract_tests
from llmlab.learn.catalog import project

PROJECT = project("tokenizer")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "pairs": [
        ("every pair counts 1, not the chunk's frequency", "counts[pair] += freq", "counts[pair] += 1",
         False),
        ("a pair counted once per chunk (overlaps lost)", "for pair in pairwise(word):",
         "for pair in set(pairwise(word)):", False),
    ],
    "merge": [
        ("a merged pair is not consumed (overlaps merge twice)", "            i += 2\n",
         "            i += 1\n", False),
        ("only the first occurrence merged", "if i + 1 < n and word[i] == a and word[i + 1] == b:",
         "if i + 1 < n and word[i] == a and word[i + 1] == b and new not in out:", False),
    ],
    "train": [
        ("tie rule reversed", "order[a], order[b], a, b)", "-order[a], -order[b], a, b)", True),
        ("initial counts ignore chunk frequency", "            pair_counts[pair] += freq\n",
         "            pair_counts[pair] += 1\n", False),
    ],
    "encode": [
        ("merges the leftmost learned pair, not the lowest rank", "best = min(ranks)",
         "best = next((r for r in ranks if r != NO_MERGE), NO_MERGE)", False),
        ("left neighbour's rank not updated",
         "        if i > 0:\n            ranks[i - 1] = get((ids[i - 1], ids[i]), NO_MERGE)\n",
         "", False),
    ],
    "decode": [
        ("special tokens dropped", "vocab[i] if 0 <= i < n else self.token_bytes(i)",
         "vocab[i] if 0 <= i < n else b''", False),
        ("decodes token by token to str",
         "return b\"\".join([vocab[i] if 0 <= i < n else self.token_bytes(i) for i in map(int, ids)])",
         "return ''.join([(vocab[i] if 0 <= i < n else self.token_bytes(i)).decode('utf-8', 'replace') "
         "for i in map(int, ids)]).encode('utf-8')", False),
    ],
    "pretokenize": [
        ("texts joined, so chunks span documents", "for text in texts_of(source):",
         "for text in [''.join(texts_of(source))]:", False),
        ("each chunk counted once per text", "counts.update(split(text))", "counts.update(set(split(text)))",
         False),
    ],
    "specials": [
        ("text after the last special token dropped", "    out.extend(self.encode_ordinary(text[start:]))\n",
         "", False),
        ("disallowed specials not refused", "if match.group() in disallowed:", "if False:", False),
        ("allowed specials ignored", "if not allowed or self._special_regex is None:", "if True:", False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("tokenizer", BUGS)


def test_bpe_is_an_alias_of_the_tokenizer_project():
    assert project("bpe") is PROJECT
