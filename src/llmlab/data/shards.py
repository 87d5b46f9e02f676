"""Token shards: flat arrays of token ids on disk behind a JSON header, read back as memmaps.

    with ShardWriter(folder, "train", vocab_size=32768, eot_id=0) as w: w.add(ids)
    stream = TokenShards(folder, "train"); stream.read(start, length)
    TokenWindows(stream.arrays, block_size=1024, batch_size=16)   # llmlab.training's resumable sampler

A shard file is `LLMLABTK` + a little-endian uint32 header length + the UTF-8 JSON header, padded
to a 64-byte boundary, then `n_tokens` ids as uint16 (vocab <= 65536) or uint32. The header says
everything needed to read it (dtype, n_tokens, vocab_size, eot_id), so a shard is self-describing.
Files are written to a temporary name and renamed, so a crash never leaves half a shard.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from llmlab.errors import LabError

MAGIC = b"LLMLABTK"
FORMAT = "llmlab-token-shard"
VERSION = 1
ALIGN = 64


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def write_shard(path: str | Path, tokens: np.ndarray, header: dict[str, Any]) -> Path:
    """Write one shard atomically; `header` gains format, version, dtype and n_tokens."""
    path = Path(path)
    tokens = np.ascontiguousarray(tokens)
    meta = {"format": FORMAT, "version": VERSION, **header,
            "dtype": tokens.dtype.name, "n_tokens": int(tokens.size)}
    body = json.dumps(meta, ensure_ascii=False).encode("utf-8")
    pad = (-(len(MAGIC) + 4 + len(body))) % ALIGN
    body += b" " * pad
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(body)) + body)
        f.write(tokens.astype(tokens.dtype.newbyteorder("<"), copy=False).tobytes())
    tmp.replace(path)
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    """The shard's JSON header, plus `data_offset` (where the ids start)."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(len(MAGIC))
        if magic != MAGIC:
            raise LabError(f"{path} is not an llmlab token shard (it does not start with {MAGIC!r})",
                           hint="make shards with `llmlab data prepare --out DIR`")
        (size,) = struct.unpack("<I", f.read(4))
        header = json.loads(f.read(size).decode("utf-8"))
    header["data_offset"] = len(MAGIC) + 4 + size
    return header


def open_shard(path: str | Path) -> np.memmap:
    """The ids of one shard as a read-only memmap (no copy, so 10 GB of shards costs no RAM)."""
    h = read_header(path)
    return np.memmap(path, dtype=np.dtype(h["dtype"]).newbyteorder("<"), mode="r",
                     offset=h["data_offset"], shape=(h["n_tokens"],))


class ShardWriter:
    """Stream token ids into numbered shards `<split>_000000.bin`, each `shard_tokens` long (the last
    shorter)."""

    def __init__(self, folder: str | Path, split: str, vocab_size: int, eot_id: int | None,
                 shard_tokens: int = 100_000_000, meta: dict[str, Any] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.split, self.shard_tokens = split, int(shard_tokens)
        self.dtype = token_dtype(vocab_size)
        self.meta = {"split": split, "vocab_size": vocab_size, "eot_id": eot_id, **(meta or {})}
        self._parts: list[np.ndarray] = []
        self._count = 0
        self._documents = 0
        self.paths: list[Path] = []
        self.n_tokens = 0

    def add(self, ids: np.ndarray | list[int], documents: int = 1) -> None:
        arr = np.asarray(ids, dtype=self.dtype)
        self._documents += documents
        while arr.size:
            take = min(arr.size, self.shard_tokens - self._count)
            self._parts.append(arr[:take])
            self._count += take
            arr = arr[take:]
            if self._count == self.shard_tokens:
                self._flush()

    def _flush(self) -> None:
        if not self._count:
            return
        tokens = np.concatenate(self._parts)
        path = self.folder / f"{self.split}_{len(self.paths):06d}.bin"
        write_shard(path, tokens, {**self.meta, "index": len(self.paths), "n_documents": self._documents})
        self.paths.append(path)
        self.n_tokens += tokens.size
        self._parts, self._count, self._documents = [], 0, 0

    def close(self) -> list[Path]:
        self._flush()
        return self.paths

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()


def shard_paths(folder: str | Path, split: str) -> list[Path]:
    return sorted(Path(folder).glob(f"{split}_*.bin"))


class TokenShards:
    """All shards of one split read as one token stream (positions run across shard boundaries)."""

    def __init__(self, folder: str | Path, split: str = "train"):
        self.folder, self.split = Path(folder), split
        self.paths = shard_paths(folder, split)
        if not self.paths:
            raise LabError(f"no {split!r} shards in {self.folder}",
                           hint="make them with `llmlab data prepare --corpus C --tokenizer DIR --out "
                                f"{self.folder}`")
        self.headers = [read_header(p) for p in self.paths]
        self.arrays = [open_shard(p) for p in self.paths]
        sizes = np.array([a.size for a in self.arrays], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)])  # shard i covers [starts[i], starts[i+1])
        self.n_tokens = int(self.starts[-1])
        self.vocab_size = int(self.headers[0]["vocab_size"])
        self.eot_id = self.headers[0].get("eot_id")

    def read(self, start: int, length: int) -> np.ndarray:
        """Ids [start, start + length) of the stream as int64."""
        if start < 0 or start + length > self.n_tokens:
            raise IndexError(f"window [{start}, {start + length}) outside 0..{self.n_tokens}")
        out = np.empty(length, dtype=np.int64)
        i = int(np.searchsorted(self.starts, start, side="right")) - 1
        filled = 0
        while filled < length:
            offset = start + filled - int(self.starts[i])
            take = min(length - filled, self.arrays[i].size - offset)
            out[filled:filled + take] = self.arrays[i][offset:offset + take]
            filled += take
            i += 1
        return out

    def check_block(self, block_size: int) -> None:
        if self.n_tokens < block_size + 1:
            raise LabError(f"the {self.split!r} shards hold {self.n_tokens} tokens, fewer than one window of "
                           f"{block_size + 1}",
                           hint="use a larger corpus or a smaller context (--set block_size=...)")
