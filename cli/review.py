"""`curator review`: load a run into FiftyOne and open the App with the SCN review plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from curator_cli.common import plain_console, user_errors

console = plain_console()


def review(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `curator train`.")],
    dataset: Annotated[Optional[str], typer.Option(
        help="FiftyOne dataset name (default: curator-<run folder name>).")] = None,
    port: Annotated[int, typer.Option(help="Port the App listens on.")] = 5151,
    address: Annotated[str, typer.Option(help="Address the App listens on.")] = "127.0.0.1",
    launch: Annotated[bool, typer.Option(
        "--launch/--no-launch", help="Open the App after loading (--no-launch: load only).")] = True,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace a dataset of that name made from another run (drops its decisions).")] = False,
) -> None:
    """Load RUN_DIR into a FiftyOne dataset (keeping review decisions) and serve the App."""
    with user_errors():
        from curator import review as library  # imports FiftyOne (~3 s): only for this command
        from curator.review.schema import INFO_PROPOSAL_RULE
        from curator.proposals import describe_rule

        if launch:
            library.check_port(address, port)  # fail before a long load, not after
        with console.status("Loading the run into FiftyOne..."):
            loaded = library.load_run(run_dir, name=dataset, overwrite=overwrite)
        _print_summary(loaded.name, library.summary(loaded))
        console.print(f"proposals by {describe_rule(loaded.info[INFO_PROPOSAL_RULE])}")
        if not launch:
            return
        session = library.launch(loaded, address=address, port=port)
        console.print(Text.assemble("Review in your browser: ",
                                    (library.app_url(loaded, address, port), "bold"), "  (Ctrl-C to stop)"))
        library.serve_forever(session)


def _print_summary(name: str, counts: dict[str, int]) -> None:
    table = Table(title=f"FiftyOne dataset {name!r}")
    for key in counts:
        table.add_column(key, justify="right")
    table.add_row(*(f"{n:,}" for n in counts.values()))
    console.print(table)
