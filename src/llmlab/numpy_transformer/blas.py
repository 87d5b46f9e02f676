"""How many threads NumPy's BLAS may use while the NumPy Transformer works.

Small models get one thread: their matrix products are so small that handing them to a second
thread costs more than it saves, and on a machine whose cores are busy with other work a waiting BLAS
thread can make a step several times slower. GPT-2-sized models keep every core.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

SMALL_WIDTH = 256   # n_embd at or below which one thread is faster


def auto_threads(n_embd: int) -> int | None:
    """1 for small widths; None (the BLAS default: all cores) for large ones."""
    return 1 if n_embd <= SMALL_WIDTH else None


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS to n threads inside the block (no-op for None/0 or without threadpoolctl)."""
    if not n:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up; the results are the same without it
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield
