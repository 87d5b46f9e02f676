"""The `llmlab` command: one sub-command group per project, `llmlab data`, and `llmlab roadmap`.

Errors reach the user as one line with a hint; `--debug` (or LLMLAB_DEBUG=1) shows the traceback. A usage
error (unknown command or option, missing or malformed value) prints click's usage line, the problem and its
"did you mean" suggestion, and exits 2. The libraries' own warnings and bars stay hidden unless `--verbose`.
Project command modules import their heavy libraries (torch, transformers) inside the commands, so
`llmlab --help` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from typer.core import TyperOption

from llmlab.console import VERBOSE_ENV, quiet_libraries
from llmlab.errors import LabError

app = typer.Typer(name="llmlab",
                  help="llmlab — build every piece of an LLM, run it, and check it against the reference.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show full tracebacks on errors"),
          verbose: bool = typer.Option(False, "--verbose", help="also show the libraries' own warnings and "
                                                                "progress bars (transformers, Hugging Face, "
                                                                "Gradio)")
          ) -> None:
    if debug:
        os.environ["LLMLAB_DEBUG"] = "1"
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    quiet_libraries()


def _readable_metavars() -> None:
    """typer's rich help gives every flag a value placeholder (`--debug <bool>`), as if it took one, and a
    repeatable option a list type (`--set <list[str]>`) though each use takes one value. Here a flag shows
    none and a repeatable option its element type, marked as repeatable: `--set <str>...`."""
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        if self.is_flag:
            return None
        label = shown(self, ctx)
        if (
            self.multiple
            and self.metavar is None
            and label
            and label.startswith("<list[")
            and label.endswith("]>")
        ):
            return f"<{label[len('<list['):-2]}>..."
        return label

    TyperOption.display_type_rich = display_type_rich


_readable_metavars()


def _add_projects() -> None:
    """Every door module plugs itself in the one way, `register(root)` (llmlab/projects.py says why)."""
    from llmlab.projects import PROJECTS

    modules = ["llmlab.data.cli", "llmlab.learn.cli", "llmlab.roadmap.cli", "llmlab.dashboard.cli"]
    modules += dict.fromkeys(p.cli_module for p in PROJECTS)     # cot and icl share llmlab.experiments.cli
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # project not built yet: no command group
            raise
        module.register(app)


_add_projects()


def _debug() -> bool:
    return os.environ.get("LLMLAB_DEBUG") == "1" or "--debug" in sys.argv[1:]


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the Typer app and turn failures into one clear line."""
    command = typer.main.get_command(app)
    try:
        # without standalone mode, click hands back the code of a `typer.Exit(code)` as the return value
        code = command.main(args=argv, prog_name="llmlab", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except typer.TyperException as exc:
        # typer carries its own copy of click: its usage errors (exit code 2) show the command's usage line,
        # the problem and click's suggestion ("No such command 'trian'. Did you mean 'train'?")
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"Error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except LabError as exc:
        if _debug():
            raise
        print(f"error: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _debug():
            raise
        print(f"error: {type(exc).__name__}: {exc}\n  hint: this looks like a bug in llmlab; "
              "rerun with --debug for the traceback and report it", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
