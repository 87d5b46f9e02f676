"""Imports point down the layers drawn in docs/architecture-notes.md, and no two sub-packages import each
other.

Every module under src/llmlab is read with `ast` (imports at any depth, so a lazy import inside a function
counts too), each import is mapped to its sub-package and layer, and the test lists every import that
points up, sideways into a project the roadmap does not build on, or round a cycle. Doors (`llmlab.cli`,
`llmlab.roadmap`, each package's `cli.py` and `roadmap_step.py`, the experiments' `cot_step.py` and
`icl_step.py`) wire everything together and may import anything. Also: `import llmlab.llm` loads no torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

GROUND = {"errors", "console", "progress", "plots", "config", "runs", "hub", "atomic", "lr_schedule", "flags",
          # "llmlab": the root __init__ (a version string)
          "device", "model_families", "projects", "llmlab"}
SHARED = {"generation", "tokenizer", "data", "training", "llm", "search"}
PROJECTS = {"numpy_transformer", "charlm", "finetune", "chat", "attention", "rag", "pretrain", "serve",
            "agents", "experiments"}
LEARNER = {"learn"}
DOOR_PACKAGES = {"cli", "roadmap", "dashboard"}   # dashboard: a page over every project's runs/, like roadmap
DOOR_FILES = {"cli", "roadmap_step", "cot_step", "icl_step"}
RANK = {**dict.fromkeys(GROUND, 0), **dict.fromkeys(SHARED, 1), **dict.fromkeys(PROJECTS, 2),
        **dict.fromkeys(LEARNER, 3)}

# A project may use another project's public API where the roadmap builds on it, never the reverse.
PROJECT_USES = {
    # the docs-search tool and the memory search a rag index / rank with BM25
    "agents": {"rag"},
    "finetune": {"experiments"},        # post-training trains on the CoT chain task, padded rows, Wilson bars
    "attention": {"numpy_transformer"},  # project 6 puts its hooks on project 1's NumPy model
}
# The only shared modules that may import a project: llm backends that wrap one, named as such.
BACKENDS = {
    "llmlab.llm.engine_backend": {"serve"},   # `engine:<dir>` runs llmlab's own serving engine in-process
}

# Imports that still break the layers, each with its way out. The list may only shrink: an entry whose
# import is gone fails test_known_breaks_are_still_there, so it is removed with the fix.
KNOWN_BREAKS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "llmlab").rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(imported llmlab module, line) for every import in the file, at any depth."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:                    # relative: from . import x / from ..pkg import y
                here = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:          # `from llmlab.serve import config` imports the module config
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in MODULES else base, node.lineno))
    return sorted({(t, line) for t, line in found if t == "llmlab" or t.startswith("llmlab.")},
                  key=lambda x: x[1])


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "llmlab"


def _is_door(module: str) -> bool:
    return _package(module) in DOOR_PACKAGES or module.rsplit(".", 1)[-1] in DOOR_FILES


def _layer(package: str) -> str:
    for layer, members in (("ground", GROUND), ("shared", SHARED), ("project", PROJECTS), ("learner",
                                                                                           LEARNER)):
        if package in members:
            return layer
    return "door"


def _broken_rule(source: str, target: str) -> str | None:
    """Why the import source -> target breaks the layers, or None when it is allowed."""
    src, dst = _package(source), _package(target)
    if _is_door(source) or src == dst or (source, dst) in KNOWN_BREAKS:
        return None
    if _is_door(target):
        return f"imports the door {target} (doors import the layers, never the reverse)"
    if src not in RANK or dst not in RANK:
        return f"{src if src not in RANK else dst} is in no layer: add it to this test and to the notes"
    if RANK[dst] < RANK[src] or (RANK[dst] == RANK[src] and RANK[src] in (0, 1, 3)):
        return None
    if dst in BACKENDS.get(source, ()):
        return None
    if RANK[src] == RANK[dst] == 2 and dst in PROJECT_USES.get(src, ()):
        return None
    return f"{_layer(src)} {src} imports {_layer(dst)} {dst}"


def _edges() -> list[tuple[str, str, int]]:
    return [(name, target, line) for name, path in MODULES.items() for target, line in _imports(name, path)]


def test_every_source_module_is_read():
    # the walk must see the tree: the layers' own members and a lazy import inside a function
    assert {"llmlab.errors", "llmlab.llm.registry", "llmlab.serve.engine"} <= set(MODULES)
    assert any(line > 1 for _, _, line in _edges())


def test_imports_point_down_the_layers():
    broken = [f"{MODULES[s].relative_to(SRC)}:{line}: {s} -> {t}: {why}"
              for s, t, line in _edges() if (why := _broken_rule(s, t))]
    assert not broken, "imports that break the layers (docs/architecture-notes.md):\n" + "\n".join(broken)


def test_known_breaks_are_still_there():
    present = {(s, _package(t)) for s, t, _ in _edges()}
    assert not set(KNOWN_BREAKS) - present, "fixed: remove from KNOWN_BREAKS " + str(
        set(KNOWN_BREAKS) - present
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_cycle_between_sub_packages():
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], list[str]] = {}
    for s, t, line in _edges():
        src, dst = _package(s), _package(t)
        if src != dst and not _is_door(s):
            graph.setdefault(src, set()).add(dst)
            where.setdefault((src, dst), []).append(f"{MODULES[s].relative_to(SRC)}:{line} -> {t}")
    report = []
    for component in _cycles(graph):
        report.append("cycle between " + ", ".join(component) + ":")
        report += [f"    {x}" for a in component for b in component for x in where.get((a, b), [])]
    assert not report, "\n".join(report)


def test_import_llm_loads_no_torch():
    # the CLI and every client of llmlab.llm import it first; torch is loaded where a model runs
    code = ("import sys, llmlab.llm, llmlab.generation, llmlab.serve, llmlab.agents; print('torch' in "
            "sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "importing llmlab.llm (or generation, serve, agents) loaded torch"
