"""tinyshakespeare: downloaded once from its public address, checked, cached.

Lookup order: the cache (`$LLMLAB_CACHE` or ~/.cache/llmlab), then the download, then a local copy in
a `shared/data/` folder beside the project (`$LLMLAB_SHARED_DATA`, `../shared/data`). Every copy must
match the SHA-256 below, so a truncated download never trains a model.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from llmlab.errors import LabError

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
FILENAME = "tinyshakespeare.txt"


def cache_dir() -> Path:
    return Path(os.environ.get("LLMLAB_CACHE", Path.home() / ".cache" / "llmlab"))


def shared_candidates() -> list[Path]:
    found = []
    if os.environ.get("LLMLAB_SHARED_DATA"):
        found.append(Path(os.environ["LLMLAB_SHARED_DATA"]) / FILENAME)
    found.append(Path.cwd().parent / "shared" / "data" / FILENAME)
    # the project checkout's sibling, wherever the command is run from (editable installs)
    found.append(Path(__file__).resolve().parents[3].parent / "shared" / "data" / FILENAME)
    return found


def _matches(data: bytes) -> bool:
    return hashlib.sha256(data).hexdigest() == SHA256


def _download(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
        return response.read()


def tinyshakespeare_path(url: str = URL, timeout: float = 20.0) -> Path:
    """The path of a verified copy, downloading it on first use."""
    cached = cache_dir() / FILENAME
    if cached.exists() and _matches(cached.read_bytes()):
        return cached
    problem = ""
    try:
        data = _download(url, timeout)
        if _matches(data):
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(cached)
            return cached
        problem = f"the download from {url} has the wrong checksum"
    except OSError as exc:  # URLError, timeouts, DNS failures are all OSErrors
        problem = f"could not download {url} ({getattr(exc, 'reason', exc)})"
    for candidate in shared_candidates():
        if candidate.exists() and _matches(candidate.read_bytes()):
            return candidate
    raise LabError(f"tinyshakespeare is not available offline: {problem}",
                   hint=f"download {URL} and save it as {cached}, or set LLMLAB_SHARED_DATA to a folder "
                        f"holding {FILENAME}")
