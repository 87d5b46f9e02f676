"""`encode_batch` over worker processes, for corpora of tens of megabytes.

Each worker gets the tokenizer once (inherited on fork, pickled as its merges on spawn), encodes
whole texts with its own chunk cache, and sends the ids back as compact `array('I')` bytes, which
pickle far faster than lists of Python ints.
"""

from __future__ import annotations

import multiprocessing as mp
from array import array
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_worker_tokenizer: Any = None
_worker_kwargs: dict[str, Any] = {}


def _init(tokenizer: Any, kwargs: dict[str, Any]) -> None:
    global _worker_tokenizer, _worker_kwargs
    _worker_tokenizer, _worker_kwargs = tokenizer, kwargs


def _encode_group(texts: list[str]) -> list[bytes]:
    return [array("I", _worker_tokenizer.encode(t, **_worker_kwargs)).tobytes() for t in texts]


def _groups(texts: list[str], n_groups: int) -> list[list[str]]:
    """Consecutive runs of texts with about equal numbers of characters (order is kept)."""
    target = max(1, sum(len(t) for t in texts) // n_groups)
    groups, current, size = [], [], 0
    for text in texts:
        current.append(text)
        size += len(text)
        if size >= target:
            groups.append(current)
            current, size = [], 0
    if current:
        groups.append(current)
    return groups


def encode_in_workers(tokenizer: Any, texts: list[str], num_workers: int,
                      kwargs: dict[str, Any]) -> list[list[int]]:
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    groups = _groups(texts, num_workers * 4)   # several groups per worker evens out uneven texts
    with ProcessPoolExecutor(num_workers, mp_context=mp.get_context(method),
                             initializer=_init, initargs=(tokenizer, kwargs)) as pool:
        out: list[list[int]] = []
        for encoded in pool.map(_encode_group, groups):
            out.extend(array("I", data).tolist() for data in encoded)
    return out
