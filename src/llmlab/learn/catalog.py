"""The exercises, declared as data: what each teaches, its stub, the names the learner writes, the
grader, three hints, and the llmlab object that is its solution (shown with `inspect.getsource`, so
the solution a learner reads is always the code llmlab's own tests check).

    project("transformer").exercise("softmax").solution_objects()   # [softmax_, softmax_backward_]
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from dataclasses import dataclass
from importlib import resources

from llmlab.errors import LabError


def resolve(ref: str):
    """"package.module:Qual.name" -> the object."""
    module_name, _, qualname = ref.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Exercise:
    name: str                       # "softmax": the command-line name
    title: str                      # "softmax and its backward"
    teaches: str                    # one sentence
    difficulty: int                 # 1 (warm-up) .. 3 (hard)
    stub: str                       # file name, in learn/exercises/<project>/ and in the workspace
    entries: tuple[str, ...]        # the names the learner's file must define
    solutions: tuple[str, ...]      # "module:qualname" of llmlab's implementation of each entry
    grader: str                     # "module:function" taking the learner's namespace
    hints: tuple[str, str, str]     # a nudge, the idea, nearly the answer
    time_limit: float = 30.0        # seconds for the whole grader

    def solution_objects(self) -> list:
        return [resolve(ref) for ref in self.solutions]

    def grade_function(self):
        return resolve(self.grader)


@dataclass(frozen=True)
class LearnProject:
    key: str                        # "transformer"
    roadmap_key: str                # the roadmap project it belongs to (its title is the tracker row)
    title: str
    doc: str                        # the docs page of the project
    exercises: tuple[Exercise, ...]
    aliases: tuple[str, ...] = ()

    def exercise(self, name: str) -> Exercise:
        for ex in self.exercises:
            if ex.name == name:
                return ex
        raise LabError(f"project {self.key!r} has no exercise {name!r}",
                       hint="choose one of " + ", ".join(e.name for e in self.exercises))

    def stub_text(self, exercise: Exercise) -> str:
        return (resources.files(f"llmlab.learn.exercises.{self.key}") / exercise.stub).read_text(
            encoding="utf-8"
        )

    def solved_text(self, exercise: Exercise) -> str:
        """The stub file with each entry replaced by llmlab's own code: a file that passes the grader."""
        stub = self.stub_text(exercise)
        tree = ast.parse(stub)
        first = min(node.lineno - len(getattr(node, "decorator_list", [])) for node in tree.body
                    if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in exercise.entries)
        header = "".join(stub.splitlines(keepends=True)[:first - 1]).rstrip() + "\n"
        parts = [header]
        for name, obj in zip(exercise.entries, exercise.solution_objects(), strict=True):
            source = textwrap.dedent(inspect.getsource(obj))
            if obj.__name__ != name:      # a method shown as a function (self is the llmlab object)
                source = source.replace(f"def {obj.__name__}(", f"def {name}(", 1)
            parts.append("\n\n" + source)
        return "".join(parts)


def projects() -> list[LearnProject]:
    from llmlab.learn.projects import PROJECTS

    return PROJECTS


def project(key: str) -> LearnProject:
    for p in projects():
        if key == p.key or key in p.aliases:
            return p
    raise LabError(f"there is no learn project {key!r}",
                   hint="choose one of " + ", ".join(p.key for p in projects()) + " (see `llmlab learn "
                                                                                  "list`)")
