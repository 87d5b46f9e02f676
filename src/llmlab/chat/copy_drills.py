"""Copy drills: the rows that teach the lab model to copy from its prompt, before (and beside) the dialogues.

    drills = CopyDrills(corpus_ids, eot_id, seed=0)
    x, y = drills.next_batch()     # (32, 48): EOT + random corpus tokens, one segment of them written twice

A drill row is random tokens of the corpus in which a segment (4-12 tokens) appears a second time right after
itself, at a random offset; only the second copy is learned. Nothing predicts it but induction: find where
the current token appeared before and say what followed it there. That is the circuit a memory answer needs
("Your locker code is" -> find "code is" in the prompt -> copy the digits after it), and it does not form
from the dialogues alone: there the copied digits are four of a hundred learned tokens, and after 800 steps
no recipe copied a single locker code (docs/results.md, chat). On pure drills it forms after 500-900 steps of
32 rows (the loss on the second copy falls from ~6 nats, a random token's, to ~1.3, the first token of the
copy staying unpredictable), as the attention toy's does on random letters (llmlab.attention.induction_toy,
whose windows these follow; here the tokens are the corpus's and only the copy is learned). Half the
segments are numbers (drill_row): a code like 6311 repeats a digit, where copying by the last occurrence of
the current token alone goes wrong.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from llmlab.training.batches import SeededBatches, collate_rows

MIN_SEGMENT, MAX_SEGMENT = 4, 12
NUMBER_SHARE, NUMBER_DIGITS = 0.5, (3, 8)  # segments that are a number, and its digits (a code has 3-4)
DRILL_BATCH, DRILL_LENGTH = 32, 48        # rows a step, tokens a row (after the EOT)


def drill_row(rng: random.Random, corpus_ids: Any, eot: int, length: int,
              number: Callable[[str], list[int]] | None = None) -> tuple[list[int], list[bool]]:
    """(ids, learned): EOT + `length` random corpus tokens with row[a + p : a + 2p] = row[a : a + p]; learned
    marks the second copy. With `number` (a tokenizer's encoding of " 6311"), half the segments are a number
    of 3-8 random digits instead: its digits repeat ("6311"), so plain induction, which predicts what followed
    the current token's last occurrence, is ambiguous there ("1" was followed by "1" and by "."); copying it
    right needs the position in the copy as well, which the token segments never ask for."""
    row = [int(corpus_ids[rng.randrange(len(corpus_ids))]) for _ in range(length)]
    if number is not None and rng.random() < NUMBER_SHARE:
        segment = number(" " + "".join(rng.choice("0123456789") for _ in range(rng.randint(*NUMBER_DIGITS))))
    else:
        segment = [int(corpus_ids[rng.randrange(len(corpus_ids))])
                   for _ in range(rng.randint(MIN_SEGMENT, MAX_SEGMENT))]
    p = len(segment)
    a = rng.randint(0, length - 2 * p)
    row[a:a + p] = row[a + p:a + 2 * p] = segment
    learned = [False] * (a + p + 1) + [True] * p + [False] * (length - a - 2 * p)
    return [eot] + row, learned


class CopyDrills(SeededBatches):
    """Batches of drill rows, padded as the lab model's batches are (collate_rows); batch i comes from a
    generator seeded by (seed, stream, i), so a resume is exact."""

    def __init__(self, corpus_ids: Any, eot: int, seed: int = 0, batch_size: int = DRILL_BATCH,
                 length: int = DRILL_LENGTH, stream: int = 0,
                 number: Callable[[str], list[int]] | None = None):
        if length < 2 * MAX_SEGMENT:
            raise ValueError(f"a drill row of {length} tokens cannot hold two copies of {MAX_SEGMENT}")
        self.ids, self.eot, self.stream, self.key = corpus_ids, eot, stream, f"drills-{seed}"
        self.batch_size, self.block_size, self.number = batch_size, length, number
        self.cursor = 0

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def rows(self, rng: random.Random, n: int) -> list[tuple[list[int], list[bool]]]:
        return [drill_row(rng, self.ids, self.eot, self.block_size, self.number) for _ in range(n)]

    def _batch(self, rng: random.Random):
        return collate_rows(self.rows(rng, self.batch_size), self.eot, self.block_size)
