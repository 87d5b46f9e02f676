"""Marks for tests that use tinyshakespeare, which a fresh clone without network does not have.

    @pytest.mark.parametrize("corpus", ["python-docs", pytest.param("tinyshakespeare",
    marks=NEEDS_TINYSHAKESPEARE)])

Tests never download it: a copy counts only when it is already in the cache or in ../shared/data, and
LLMLAB_NO_SHARED=1 hides the latter. `.ci/run` runs the suite with it hidden, then only these tests
(`-m shared_data`) with it visible.
"""

import pytest

from llmlab.data import tinyshakespeare as ts

NEEDS_TINYSHAKESPEARE = [
    pytest.mark.shared_data,
    pytest.mark.skipif(ts.local_copy() is None,
                       reason=f"no copy of tinyshakespeare on this machine (cache or ../shared/data, "
                              f"unless {ts.NO_SHARED_ENV} hides it) and tests never download"),
]
