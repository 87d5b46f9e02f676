"""tinyshakespeare: downloaded once from its public address, checked, cached.

Lookup order: the cache (`$LLMLAB_CACHE` or ~/.cache/llmlab), then a local copy in a `shared/data/` folder
beside the project (`$LLMLAB_SHARED_DATA`, `../shared/data`), then the download (into the cache). Local
copies come first so a machine that has one never waits on the network. Every copy must match the
SHA-256 below, so a truncated download never trains a model.

`LLMLAB_NO_SHARED=1` hides every `shared/data/` copy, so a machine that has one can still behave as a fresh
clone without it (CI runs the test suite once so).
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
NO_SHARED_ENV = "LLMLAB_NO_SHARED"


def cache_dir() -> Path:
    return Path(os.environ.get("LLMLAB_CACHE", Path.home() / ".cache" / "llmlab"))


def shared_hidden() -> bool:
    return os.environ.get(NO_SHARED_ENV, "") not in ("", "0")


def shared_candidates() -> list[Path]:
    if shared_hidden():
        return []
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


def local_copy() -> Path | None:
    """A verified copy already on this machine (the cache or a shared folder), without downloading."""
    for candidate in [cache_dir() / FILENAME, *shared_candidates()]:
        if candidate.exists() and _matches(candidate.read_bytes()):
            return candidate
    return None


def tinyshakespeare_path(url: str = URL, timeout: float = 20.0) -> Path:
    """The path of a verified copy, downloading it on first use."""
    found = local_copy()
    if found is not None:
        return found
    cached = cache_dir() / FILENAME
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
    raise LabError(f"tinyshakespeare is not available offline: {problem}",
                   hint=f"download {URL} and save it as {cached}, or set LLMLAB_SHARED_DATA to a folder "
                        f"holding {FILENAME}")
