"""Atomic rebuilds: a whole result folder is replaced in one rename, so a failure or a SIGKILL at any moment
leaves the old version whole (or the new one), never a mix of the two. (One file:
llmlab.runs.write_text_atomic.)

    with rebuild_dir(out, owned=["train_*.bin", "val_*.bin", "tokenizer", "summary.json"]) as tmp:
        build(tmp)                                  # raise or die here: `out` is as it was
    with locked(folder):                            # one writer at a time per folder, across threads
        read_modify_write(folder)

A rebuild is built in a hidden sibling `.NAME.PID.XXXX.rebuild/` and exchanged with the old folder in one
`renameat2(RENAME_EXCHANGE)` (Linux; `renamex_np(RENAME_SWAP)` on macOS). Where neither exists it falls back
to two renames (old aside, new in); a kill between them leaves the old folder beside its name, and the next
rebuild puts it back. Entries of the old folder that the command does not write (`owned` says which it does)
are carried into the new one by hard links, so a user's own files in an output folder survive a rebuild.
"""

from __future__ import annotations

import contextlib
import ctypes
import fnmatch
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

REBUILD, OLD = ".rebuild", ".old"


# ---- one writer per folder ------------------------------------------------------------------------------

_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


@contextlib.contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """Hold the lock of `folder` (re-entrant; one per resolved path, shared by every object in this
    process)."""
    key = str(Path(folder).resolve())
    with _locks_guard:
        lock = _locks.setdefault(key, threading.RLock())
    with lock:
        yield


# ---- whole folders ------------------------------------------------------------------------------------

@contextlib.contextmanager
def rebuild_dir(target: str | Path, owned: Iterable[str] = ("*",)) -> Iterator[Path]:
    """Yield a fresh temporary sibling of `target` to build into; when the block ends without an exception it
    replaces `target` in one step. `owned`: glob patterns of the entries the build writes (and so replaces or
    removes); every other entry of the old folder is carried over. The default owns everything."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=REBUILD, dir=target.parent))
    try:
        yield tmp
        if target.is_dir():
            _carry(target, tmp, list(owned))
        _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)      # the half-built folder, or (after the swap) the old one


def recover(target: str | Path) -> None:
    """Tidy what a killed rebuild of `target` left: put the old folder back if the kill came between the two
    fallback renames, and remove temporary folders whose process is gone."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    for leftover in sorted(target.parent.glob(f".{glob_escape(target.name)}.*")):
        kind = leftover.suffix
        if kind not in (REBUILD, OLD) or _owner_alive(leftover, target.name):
            continue
        if kind == OLD and not target.exists():
            leftover.rename(target)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _owner_alive(leftover: Path, name: str) -> bool:
    """Whether the process whose pid is in `.NAME.PID.XXXX.kind` still runs (its rebuild is not a
    leftover)."""
    try:
        pid = int(leftover.name[len(name) + 2:].split(".", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return True                  # another thread of this process is rebuilding it now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _carry(old: Path, new: Path, owned: list[str]) -> None:
    """Hard-link the old folder's entries that the build does not own into the new folder (copies where the
    filesystem refuses links)."""
    for entry in old.iterdir():
        if (new / entry.name).exists() or any(fnmatch.fnmatchcase(entry.name, p) for p in owned):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), new / entry.name)
        else:
            _link_or_copy(entry, new / entry.name)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _swap_in(tmp: Path, target: Path) -> None:
    """Put `tmp` at `target`; afterwards `tmp` holds the old folder (or nothing)."""
    if not target.exists():
        tmp.rename(target)
        return
    if _exchange(tmp, target):
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=OLD, dir=target.parent))
    old.rmdir()
    target.rename(old)               # a kill here leaves only `old`: recover() renames it back
    tmp.rename(target)
    old.rename(tmp)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one system call, where the OS has one; False where it does not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
            at_fdcwd, rename_exchange = -100, 2
            ok = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
        elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
            rename_swap = 2
            ok = libc.renamex_np(os.fsencode(a), os.fsencode(b), rename_swap) == 0
        else:
            return False
    except (OSError, AttributeError):
        return False
    return ok
