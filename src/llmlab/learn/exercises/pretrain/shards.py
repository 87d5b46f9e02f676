"""Exercise `shards`: a token-shard file — magic, header length, a JSON header, aligned ids — written and read
back.

Check it with `llmlab learn check pretrain shards` (your files read by llmlab's reader and byte for byte
against llmlab's writer; llmlab's files read by yours; vocabularies on both sides of 2^16, an empty shard).
A shard is what `llmlab data prepare` writes and the trainer memory-maps: 10 GB of tokens cost no RAM.
    MAGIC (8 bytes) | header length L: uint32 little-endian | L bytes of UTF-8 JSON, space-padded | the ids
where 8 + 4 + L is a multiple of ALIGN (64), and the ids are n_tokens little-endian uint16 or uint32.
Not handled here: ShardWriter (it cuts a stream into numbered shards with write_shard), compression.
"""

from __future__ import annotations

import json  # noqa: F401 - for your code
import struct  # noqa: F401 - for your code: struct.pack("<I", n)
from pathlib import Path
from typing import Any

import numpy as np

from llmlab.errors import LabError  # noqa: F401 - for your code

MAGIC = b"LLMLABTK"
FORMAT = "llmlab-token-shard"
VERSION = 1
ALIGN = 64


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id 0 .. vocab_size - 1: uint16 up to 65,536 ids, else
    uint32.

    Example: 50257 (GPT-2) -> uint16; 65536 -> uint16 (ids 0 .. 65535); 65537 -> uint32.
    """
    raise NotImplementedError("token_dtype")


def write_shard(path: str | Path, tokens: np.ndarray, header: dict[str, Any]) -> Path:
    """Write `tokens` (1-D, already in their dtype) to `path`; return the path.

    The JSON header is {"format": FORMAT, "version": VERSION, **header, "dtype": tokens.dtype.name,
    "n_tokens": tokens.size} in that key order, dumped with json.dumps(meta, ensure_ascii=False), encoded
    as UTF-8 and padded with spaces so that len(MAGIC) + 4 + L is a multiple of ALIGN. Then the ids, as
    little-endian bytes. Write to path + ".tmp" and rename it over `path` (Path.replace): a crash halfway
    never leaves a file that looks like a shard.
    Example: 3 uint16 ids, header {"vocab_size": 300} -> JSON of 99 bytes, padded to 116 (8 + 4 + 116 = 128),
    then 6 bytes of ids: a 134-byte file.
    """
    raise NotImplementedError("write_shard")


def read_header(path: str | Path) -> dict[str, Any]:
    """The shard's JSON header as a dict, plus "data_offset": where the ids start (8 + 4 + L).

    A file that does not start with MAGIC is not a shard: raise LabError saying so.
    """
    raise NotImplementedError("read_header")


def open_shard(path: str | Path) -> np.memmap:
    """The ids as a read-only np.memmap (mode "r") of the header's dtype (little-endian), n_tokens long,
    starting at data_offset. No copy is made: the OS pages the file in as the trainer reads it."""
    raise NotImplementedError("open_shard")
