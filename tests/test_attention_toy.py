"""The toy model's training data: every window is one random string repeated from its start, so the letters
after the first copy are predictable by copying, and a window never mixes two strings."""

from __future__ import annotations

import pytest

from llmlab.attention.toy import repeated_windows, train_toy
from llmlab.errors import LabError


@pytest.mark.parametrize("distinct", [False, True])
def test_windows_repeat_one_string_from_their_start(distinct):
    rows = repeated_windows(200, 25, 26, 4, 12, seed=0, distinct=distinct)
    assert rows.shape == (200, 25)
    periods = []
    for row in rows:
        # the smallest p with row[p:] == row[:-p] is the string's length (a shorter r would repeat sooner)
        p = next(p for p in range(1, 13) if (row[p:] == row[:-p]).all())
        periods.append(p)
        if distinct:
            assert len(set(row[:p].tolist())) == p
    assert min(periods) >= 4 and max(periods) <= 12 and len(set(periods)) > 5


def test_periods_must_fit_two_copies(tmp_path):
    with pytest.raises(LabError, match="block_size"):
        train_toy(out=tmp_path, overrides=["block_size=16", "max_period=12"])
