"""One spelling per command-line flag, and the old spellings kept for one release after a rename.

    from llmlab.flags import option
    max_new_tokens: int = option(300, "--max-new-tokens", old=["--tokens"], help="characters to generate")

`option` is `typer.Option` plus `old`: each old spelling still parses into the same parameter, is left out of
`--help`, and prints "warning: --tokens is deprecated; use --max-new-tokens" to stderr when used. The names
come from `llmlab.generation.SamplingParams` (the table is "CLI vocabulary" in docs/architecture-notes.md).
This lives in its own module, not in `llmlab.cli`, because the root command imports every project's cli.py:
a project importing the root back would be a circle.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperOption


def option(default: Any, *names: str, old: Sequence[str] = (), **kwargs: Any) -> Any:
    """`typer.Option(default, *names, **kwargs)` that also takes each old spelling (hidden, deprecated)."""
    if not old:
        return typer.Option(default, *names, **kwargs)
    if "callback" in kwargs:
        raise TypeError("option(old=...) keeps its own callback")

    def keep(value):   # carries the old spellings to the click option typer builds (it copies attributes)
        return value

    keep.old_spellings = tuple(old)
    return typer.Option(default, *names, callback=keep, **kwargs)


def _old_spellings(opt: TyperOption) -> tuple[str, ...]:
    return getattr(opt.callback, "old_spellings", ())


def _dest(opt: TyperOption, spelling: str) -> str:
    # a parser slot of its own (no parameter name has a space), so that we can tell which spelling was used
    return f"{opt.name} {spelling}"


def _accept_old_spellings() -> None:
    """Teach typer's options to parse the old spellings: each is added to the parser next to the option's own
    names (so `--help`, which lists those names, never shows it); after parsing, a value given under an old
    spelling is moved to the option's own slot, with the note. A value under the new spelling wins."""
    if getattr(TyperOption, "_old_spellings_accepted", False):
        return
    add_to_parser, handle_parse_result = TyperOption.add_to_parser, TyperOption.handle_parse_result

    def add_with_old(self, parser, ctx):
        add_to_parser(self, parser, ctx)
        for spelling in _old_spellings(self):
            parser.add_option(obj=self, opts=[spelling], dest=_dest(self, spelling),
                              action="append" if self.multiple else "store", nargs=self.nargs)

    def handle_old(self, ctx, opts, args):
        for spelling in _old_spellings(self):
            if _dest(self, spelling) in opts:
                new = next(o for o in self.opts if o.startswith("--"))
                print(f"warning: {spelling} is deprecated; use {new}", file=sys.stderr, flush=True)
                opts = {self.name: opts[_dest(self, spelling)], **opts}
        return handle_parse_result(self, ctx, opts, args)

    TyperOption.add_to_parser = add_with_old
    TyperOption.handle_parse_result = handle_old
    TyperOption._old_spellings_accepted = True


_accept_old_spellings()
