"""What every command shares: consoles that print text as it is, and a CuratorError turned into
one clear line and exit code 1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.text import Text

from curator.errors import CuratorError


def plain_console(**options) -> Console:
    """A console that prints strings as they are: paths such as labels[v2].csv and class names are
    never read as rich markup (colour comes from `Text` styles instead)."""
    return Console(markup=False, **options)


console = plain_console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a CuratorError as `error: <message>` and exit 1; let real bugs raise."""
    try:
        yield
    except CuratorError as error:
        console.print(Text.assemble(("error:", "bold red"), f" {error}"), highlight=False,
                      soft_wrap=True)
        raise typer.Exit(1) from None
