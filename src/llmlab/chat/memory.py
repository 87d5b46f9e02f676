"""Persistent chat memory: each conversation is a folder runs/chat/<name>/, resumable by name.

    store = ChatStore()                         # runs/chat (or $LLMLAB_RUNS/chat)
    session = store.open("notes")               # new or resumed
    session.add("user", "hi"); session.add("assistant", "hello"); session.remember("the user is Ada")
    store.list()                                # [{"name": "notes", "turns": 1, ...}]

Files, each rewritten whole through a uniquely named temporary file and an atomic rename (a crash leaves the
old file, never half a line; two threads saving one session never share a temporary file), under the session's
lock so that a change and its save are one step: messages.jsonl (one message per line: role, content, time),
facts.jsonl (long-term notes that survive any trimming of the context) and session.json (model, system prompt,
times).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlab.atomic import locked
from llmlab.errors import LabError
from llmlab.runs import check_name, runs_root, write_text_atomic


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise LabError(f"{path} line {number} is not JSON",
                               hint="fix or delete that line (the files are plain JSON lines)") from None
    return rows


@dataclass
class Session:
    """One conversation on disk: its messages, its long-term facts and its settings."""
    path: Path
    messages: list[dict[str, Any]] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def load(cls, path: Path) -> Session:
        meta_file = path / "session.json"
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
        except json.JSONDecodeError as exc:
            raise LabError(f"{meta_file} is not JSON ({exc.msg}, line {exc.lineno})",
                           hint="fix the file, or delete it to reset the session's settings (its messages "
                                "stay)") from None
        if not isinstance(meta, dict):
            raise LabError(f"{meta_file} holds a {type(meta).__name__}, not a JSON object",
                           hint="delete it to reset the session's settings (its messages stay)")
        return cls(path, _read_jsonl(path / "messages.jsonl"),
                   [row["text"] for row in _read_jsonl(path / "facts.jsonl")], meta)

    def history(self) -> list[dict[str, str]]:
        """The conversation as plain {"role", "content"} messages, for the context builder."""
        return [{"role": m["role"], "content": m["content"]} for m in self.messages]

    @property
    def saved(self) -> bool:
        """Whether the session is on disk yet (a new one is written with its first message or fact)."""
        return (self.path / "session.json").exists()

    def add(self, role: str, content: str, **extra: Any) -> None:
        with locked(self.path):
            self.messages.append({"role": role, "content": content, "time": round(time.time(), 3), **extra})
            self.save()

    def remember(self, fact: str) -> None:
        fact = fact.strip()
        if not fact:
            raise LabError("nothing to remember", hint="give the fact as text, e.g. /remember my name is Ada")
        with locked(self.path):
            if fact not in self.facts:
                self.facts.append(fact)
                self.save()

    def forget(self, index: int) -> str:
        with locked(self.path):
            if not 0 <= index < len(self.facts):
                raise LabError(f"there is no fact {index + 1}",
                               hint=f"this session has {len(self.facts)} facts")
            fact = self.facts.pop(index)
            self.save()
        return fact

    def clear(self) -> None:
        """Forget the conversation (and its running summary), keep the long-term facts and the settings."""
        with locked(self.path):
            self.messages = []
            self.meta.pop("summary", None)
            self.meta.pop("summarized", None)
            self.save()

    def save(self) -> None:
        with locked(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            now = round(time.time(), 3)
            self.meta.setdefault("created", now)
            self.meta["updated"] = now
            _write_jsonl(self.path / "messages.jsonl", self.messages)
            _write_jsonl(self.path / "facts.jsonl", [{"text": f} for f in self.facts])
            # written last: its presence marks the session as saved
            write_text_atomic(self.path / "session.json", json.dumps(self.meta, indent=2,
                                                                     ensure_ascii=False) + "\n")

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "turns": sum(m["role"] == "user" for m in self.messages),
                "messages": len(self.messages), "facts": len(self.facts), "model": self.meta.get("model"),
                "updated": time.strftime("%Y-%m-%d %H:%M", time.localtime(self.meta.get("updated", 0)))}


class ChatStore:
    """The folder of all saved conversations (runs/chat by default)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else runs_root() / "chat"

    def path(self, name: str) -> Path:
        return self.root / check_name(name, "session name")

    def exists(self, name: str) -> bool:
        return (self.path(name) / "session.json").exists()

    def open(self, name: str | None = None, create: bool = True, **meta: Any) -> Session:
        """Resume session `name`, or start it (a new timestamped one when no name is given). `create=False`: a
        new session stays in memory until its first message or fact (the UI, where any typed name arrives)."""
        name = name or time.strftime("%Y%m%d-%H%M%S")
        path = self.path(name)
        if self.exists(name):
            return Session.load(path)
        session = Session(path, meta={k: v for k, v in meta.items() if v is not None})
        if create:
            session.save()
        return session

    def list(self) -> list[dict[str, Any]]:
        """Every saved session's summary, most recently updated first; one that cannot be read is listed
        with its error (and the fix) instead of hiding the others."""
        if not self.root.is_dir():
            return []
        sessions, broken = [], []
        for p in sorted(self.root.iterdir()):
            if (p / "session.json").exists():
                try:
                    sessions.append(Session.load(p))
                except LabError as exc:
                    broken.append({"name": p.name, "error": str(exc)})
        sessions.sort(key=lambda s: s.meta.get("updated", 0), reverse=True)
        return [s.summary() for s in sessions] + broken
