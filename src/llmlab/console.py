"""Terminal output shared by every command: one rich console, summaries as a table or as JSON, and the
one switch for the libraries' own chatter (`quiet_libraries`; `llmlab --verbose` turns it back on).
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(stderr=False)
err_console = Console(stderr=True)


def print_summary(summary: dict[str, Any], as_json: bool = False, title: str = "summary") -> None:
    """`--json` prints the summary as JSON on stdout (for scripts); otherwise a readable table."""
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, dict | list):
            value = json.dumps(value, default=str)
        table.add_row(str(key), str(value))
    console.print(table)


VERBOSE_ENV = "LLMLAB_VERBOSE"
# Read by the libraries when they are imported: transformers' config notes (`loss_type=None` ...,
# `bos_token_id` ... got 50256) and the tqdm bars of huggingface_hub and transformers ("Loading weights").
QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
             "HF_HUB_DISABLE_PROGRESS_BARS": "1", "DATASETS_VERBOSITY": "error"}


LIBRARY_WARNINGS = re.compile(r"(transformers|peft|accelerate|huggingface_hub|datasets|torch)(\.|$)")


def verbose() -> bool:
    """True under `llmlab --verbose` (or LLMLAB_VERBOSE=1): show the libraries' own warnings and bars."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_libraries(quiet: bool | None = None) -> None:
    """Hide (or, with quiet=False, show again) the warnings and progress bars that transformers,
    huggingface_hub and datasets print on their own; llmlab's messages and bars are not affected.

    A user's own setting of one of these variables wins. Libraries read them at import, so the ones already
    imported are switched through their own calls.
    """
    quiet = not verbose() if quiet is None else quiet
    removed = set()
    for name, value in QUIET_ENV.items():
        if quiet:
            os.environ.setdefault(name, value)
        elif os.environ.get(name) == value:
            del os.environ[name]
            removed.add(name)
    hub_tqdm = sys.modules.get("huggingface_hub.utils.tqdm")
    if "HF_HUB_DISABLE_PROGRESS_BARS" in removed and hub_tqdm is not None:
        # the hub copied our variable into a constant at import; left set, enabling its bars (here or through
        # transformers) would only warn that the now removed variable "has priority" and keep them off
        hub_tqdm.HF_HUB_DISABLE_PROGRESS_BARS = None
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error() if quiet else hf_logging.set_verbosity_warning()
        hf_logging.disable_progress_bar() if quiet else hf_logging.enable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

        disable_progress_bars() if quiet else enable_progress_bars()
    if "datasets" in sys.modules:
        from datasets.utils import logging as ds_logging

        ds_logging.set_verbosity_error() if quiet else ds_logging.set_verbosity_warning()
    # Python warnings the libraries raise about their own APIs (transformers' `is_gradient_checkpointing`
    # FutureWarning when PEFT wraps a model): a learner can do nothing about them
    ours = [f for f in warnings.filters if f[0] == "ignore" and f[3] == LIBRARY_WARNINGS]
    warnings.filters[:] = [f for f in warnings.filters if f not in ours]
    if quiet:
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category, module=LIBRARY_WARNINGS.pattern)
