"""Reaching the Hugging Face Hub: fail at once when it is unreachable, instead of retrying for a minute.

`offline_unless_reachable(name)` is called before any `from_pretrained(name)` / `load_dataset(name)` whose
name is not a local folder. With no route to huggingface.co it switches the process to the libraries'
offline mode, so cached copies still load and anything else fails immediately with its own clear error.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HUB_HOST = "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def offline_unless_reachable(name: str | Path | None = None) -> bool:
    """True when the process is (now) in offline mode. A local folder never needs the Hub."""
    if name is not None and Path(str(name)).expanduser().exists():
        return bool(os.environ.get("HF_HUB_OFFLINE"))
    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("HF_DATASETS_OFFLINE") or os.environ.get(
            "TRANSFORMERS_OFFLINE"):
        return True
    if hub_reachable():
        return False
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    # modules imported already read their flags at import time: flip those too
    import sys

    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "datasets.config" in sys.modules:
        cfg = sys.modules["datasets.config"]
        cfg.HF_HUB_OFFLINE = cfg.HF_DATASETS_OFFLINE = True
    return True
