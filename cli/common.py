"""What every command shares: turning a CuratorError into one clear line and exit code 1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from curator.errors import CuratorError

console = Console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a CuratorError as `error: <message>` and exit 1; let real bugs raise."""
    try:
        yield
    except CuratorError as error:
        # escaped: a path such as labels[v2].csv is not rich markup
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
