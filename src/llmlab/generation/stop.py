"""Stop strings, checked on the decoded text as it grows.

`find_stop(text, stops, start)` gives the index where the earliest stop string begins (searching from
`start` minus the longest stop, so a stop split across two tokens is still found), or -1. Streaming
callers hold back `holdback(stops)` characters, since they might be the beginning of a stop string.
"""

from __future__ import annotations

from collections.abc import Sequence


def find_stop(text: str, stops: Sequence[str], start: int = 0) -> int:
    if not stops:
        return -1
    begin = max(0, start - max(len(s) for s in stops) + 1)
    hits = [i for i in (text.find(s, begin) for s in stops if s) if i >= 0]
    return min(hits) if hits else -1


def holdback(stops: Sequence[str]) -> int:
    """How many trailing characters a stream must hold back: they may start a stop string."""
    return max((len(s) for s in stops), default=1) - 1 if stops else 0
