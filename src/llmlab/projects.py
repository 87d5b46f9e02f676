"""The twelve projects of the roadmap and where each one's command group and roadmap step live.

A project plugs in by creating two modules, nothing else:
- `<package>.cli` with `register(root)`, which adds its commands to the root Typer app. One way for every
  shape: a group (`root.add_typer(app, name="charlm")`), two groups from one package (`cot`, `icl`), or
  top-level commands (`llmlab serve --model DIR`, `llmlab bench serve`). `llmlab data`, `learn` and
  `roadmap` plug in the same way;
- `<package>.roadmap_step` (or the module named in `step`) with `run(ctx: StepContext) -> dict`.
A project whose modules do not exist yet is listed as "not built yet", never as done.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Project:
    key: str        # command-group name and run-folder name
    title: str      # the row name in the roadmap's progress table
    package: str
    step: str       # "module:function" of the roadmap step
    doc: str        # docs page
    bonus: bool = False

    @property
    def cli_module(self) -> str:
        return f"{self.package}.cli"


def _p(key: str, title: str, package: str, step_module: str = "roadmap_step", bonus: bool = False) -> Project:
    return Project(key, title, f"llmlab.{package}", f"llmlab.{package}.{step_module}:run",
                   f"docs/{key}.md", bonus)


PROJECTS: list[Project] = [
    _p("transformer", "Transformer from scratch", "numpy_transformer"),
    _p("tokenizer", "BPE Tokenizer", "tokenizer"),
    _p("charlm", "Char-level LM", "charlm"),
    _p("finetune", "Fine-tune GPT-2", "finetune"),
    _p("chat", "Chatbot UI", "chat"),
    _p("attention", "Attention Visualization", "attention"),
    _p("rag", "RAG System", "rag"),
    _p("pretrain", "Train 125M model", "pretrain"),
    _p("serve", "Model Serving", "serve"),
    _p("agents", "LLM Agents", "agents", bonus=True),
    _p("cot", "Chain-of-Thought Prompting", "experiments", "cot_step", bonus=True),
    _p("icl", "In-Context Learning", "experiments", "icl_step", bonus=True),
]


def project(key: str) -> Project:
    for p in PROJECTS:
        if p.key == key:
            return p
    raise KeyError(key)
