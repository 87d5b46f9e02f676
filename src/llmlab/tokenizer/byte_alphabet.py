"""GPT-2's printable stand-ins for the 256 bytes, as HF tokenizers' `ByteLevel` writes them in tokenizer.json.

Bytes that are printable Latin-1 characters stand for themselves; the other 68 (controls, space,
soft hyphen, ...) get the characters U+0100 onward, so a space shows up as "Ġ" and a newline as "Ċ".
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def byte_to_char() -> tuple[str, ...]:
    """byte value -> its stand-in character (the table in GPT-2's encoder.py, written as a loop)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"),
                                                                                        ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return tuple(table[b] for b in range(256))


@lru_cache(maxsize=1)
def char_to_byte() -> dict[str, int]:
    return {c: b for b, c in enumerate(byte_to_char())}


def to_chars(data: bytes) -> str:
    """b" hello" -> "Ġhello": how a token's bytes are spelled in tokenizer.json."""
    table = byte_to_char()
    return "".join(table[b] for b in data)


@lru_cache(maxsize=1)
def hf_byte_order() -> tuple[int, ...]:
    """Where each byte sorts when the bytes are ordered by their stand-in characters (HF's id order)."""
    ranked = sorted(range(256), key=lambda b: byte_to_char()[b])
    order = [0] * 256
    for position, b in enumerate(ranked):
        order[b] = position
    return tuple(order)
