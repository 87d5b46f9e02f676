"""Exercise `encode`: encode one pre-token's bytes with the learned merges, lowest rank first.

Check it with `llmlab learn check tokenizer encode` (your ids against tiktoken's, built from the same ranks).
The function is a method of llmlab's BPETokenizer: `self` is a trained tokenizer, with
    self._rank:  {(a, b): rank}   the merge rank of each learned pair (0 = learned first)
    self.merges: [(a, b, new)]    by rank, so self.merges[rank][2] is the id the pair becomes
"""

from __future__ import annotations

from itertools import pairwise  # noqa: F401 - for your code

from llmlab.tokenizer.bpe import NO_MERGE  # noqa: F401 - for your code: a rank larger than any learned one


def encode_chunk(self, data: bytes) -> list[int]:
    """The ids of one chunk: start from its bytes, and repeatedly merge the adjacent pair with the
    LOWEST rank (leftmost first among equal ones) until no adjacent pair was ever learned.

    Example: with merges (104, 105) -> 256 ("hi") and (256, 33) -> 257 ("hi!"):
             encode_chunk(tok, b"hi!") -> [257];  encode_chunk(tok, b"ih") -> [105, 104]
    """
    raise NotImplementedError("encode_chunk")
