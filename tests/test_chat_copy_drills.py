"""The lab model's copy drills (a segment written twice, only the second copy learned), its batches mixing
them with the dialogues, and the held-out measure of copying (prompts within the trained length)."""

import random
import re

import numpy as np
import pytest

from llmlab.chat.copy_drills import MAX_SEGMENT, MIN_SEGMENT, CopyDrills, drill_row
from llmlab.training.batches import IGNORE_INDEX

CORPUS = np.arange(1000, 1500, dtype=np.int64)          # 500 distinct "corpus tokens"
EOT = 7


def test_a_drill_row_repeats_one_segment_and_learns_only_the_second_copy():
    for seed in range(50):
        ids, learned = drill_row(random.Random(seed), CORPUS, EOT, 48)
        assert len(ids) == len(learned) == 49 and ids[0] == EOT
        assert set(ids[1:]) <= set(CORPUS.tolist())
        marked = [i for i, on in enumerate(learned) if on]
        p = len(marked)
        assert MIN_SEGMENT <= p <= MAX_SEGMENT
        assert marked == list(range(marked[0], marked[0] + p))               # one contiguous span
        assert ids[marked[0]:marked[0] + p] == ids[marked[0] - p:marked[0]]   # repeating the one before


def test_drill_batches_target_the_copy_and_resume_exactly():
    drills = CopyDrills(CORPUS, EOT, seed=3, batch_size=8)
    x, y = drills.next_batch()
    assert x.shape == y.shape == (8, 48)
    on = y != IGNORE_INDEX
    assert 0 < on.float().mean() < 0.5
    assert (y[:, :-1][on[:, :-1]] == x[:, 1:][on[:, :-1]]).all()              # a target is the next input
    # each learned target already appeared earlier in its row (it is a copy)
    for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
        for t, target in enumerate(row_y):
            if target != IGNORE_INDEX:
                assert target in row_x[:t]
    state = drills.state_dict()
    after = drills.next_batch()
    again = CopyDrills(CORPUS, EOT, seed=3, batch_size=8)
    again.load_state_dict(state)
    assert all((a == b).all() for a, b in zip(again.next_batch(), after, strict=True))
    assert not (CopyDrills(CORPUS, EOT, seed=4, batch_size=8).next_batch()[0] == x).all()


def test_a_drill_row_too_short_for_two_copies_is_refused():
    with pytest.raises(ValueError, match="two copies"):
        CopyDrills(CORPUS, EOT, length=2 * MAX_SEGMENT - 1)


class ScriptedLLM:
    """Answers every question with the locker code its prompt holds (else "no idea"); counts a prompt's tokens
    as its characters / 4."""

    def __init__(self):
        self.asked = []

    def count_chat_tokens(self, messages):
        return sum(len(m["content"]) for m in messages) // 4

    def chat(self, messages, params):
        from types import SimpleNamespace

        self.asked.append(self.count_chat_tokens(messages))
        found = re.search(r"locker code is (\d{4})", " ".join(m["content"] for m in messages))
        return SimpleNamespace(text=f"Your locker code is {found[1]}." if found else "no idea")


def test_memory_accuracy_asks_only_prompts_within_the_trained_length():
    from llmlab.chat.lab_model import memory_accuracy

    sentences = ["The quick brown fox jumps over the lazy dog again and again."] * 20
    llm = ScriptedLLM()
    result = memory_accuracy(llm, sentences, n=10, max_prompt=60)
    assert max(llm.asked) <= 60 and len(llm.asked) >= 10
    # the scripted model copies every locker code present (4 digits + "."), answers nothing else right
    assert result["locker_codes_copied"] == 1.0
    assert 0 < result["memory_accuracy"] < 1.0
    unbounded = ScriptedLLM()
    memory_accuracy(unbounded, sentences, n=10)
    assert max(unbounded.asked) > 60                                          # there were longer ones to skip


def test_with_a_number_encoder_about_half_the_segments_are_numbers_written_twice():
    numbers, characters = 0, lambda text: [ord(c) for c in text]       # a tokenizer of one id a character
    for seed in range(200):
        ids, learned = drill_row(random.Random(seed), CORPUS, EOT, 48, number=characters)
        span = [t for t, on in zip(ids, learned, strict=True) if on]
        start = learned.index(True)
        assert ids[start - len(span):start] == span                              # the copy of the segment
        if span[0] == ord(" "):
            digits = "".join(map(chr, span[1:]))
            assert digits.isdigit() and 3 <= len(digits) <= 8
            numbers += 1
        else:
            assert set(span) <= set(CORPUS.tolist())
    assert 70 <= numbers <= 130
