"""Exercise `prefix_hash`: the hash chain that names a full KV block by everything before it and in it.

Check it with `llmlab learn check serve prefix_hash` (your hashes against llmlab's on random chains, with
token ids past 255 and 65,535, and two prompts that differ only in an earlier block).
The prefix cache looks a block up by this name: a request whose first blocks hash like a cached request's
reuses that request's K/V instead of computing them again.
"""

from __future__ import annotations

import hashlib  # noqa: F401 - for your code: hashlib.blake2b(data, digest_size=16).digest()
from array import array  # noqa: F401 - for your code: array("q", tokens).tobytes(), 8 bytes per id
from collections.abc import Sequence


def prefix_hash(parent: bytes, tokens: Sequence[int]) -> bytes:
    """The name of a full block: H(parent || the block's token ids), 16 bytes.

        h_0 = H(b"" || tokens_0),   h_i = H(h_{i-1} || tokens_i)
    H is BLAKE2b with a 16-byte digest over the parent's bytes followed by the ids as signed 64-bit
    integers in the machine's order (array("q", tokens).tobytes()). Because the parent is inside, two blocks
    with the same tokens after different prefixes get different names (their K/V differ too: attention read
    different tokens before them). A cryptographic hash, not Python's hash(): a collision would silently
    serve another prompt's K/V.
    Example: prefix_hash(b"", [1, 2, 3, 4]) is 16 bytes; prefix_hash(it, [5, 6, 7, 8]) names the second
    block of [1..8], and differs from prefix_hash(prefix_hash(b"", [9, 2, 3, 4]), [5, 6, 7, 8]).
    """
    raise NotImplementedError("prefix_hash")
