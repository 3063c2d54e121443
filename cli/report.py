"""`curator report RUN_DIR --out DIR`: plots, an HTML page and summary.json for one run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curator_cli.common import plain_console, user_errors

Opt = typer.Option


def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `curator train`.")],
    out: Annotated[Path, Opt("--out", "-o", help="Folder to write index.html (the report page), summary.json and the PNGs to.")],
    force: Annotated[bool, Opt("--force", help="Replace an earlier report in --out.")] = False,
) -> None:
    """Plot importance weights, relabels and proposals of a run (and their quality when the truth is known)."""
    from curator.report import PAGE, build_report
    from curator.report.page import format_number
    from curator.proposals import describe_rule

    with user_errors():
        numbers = build_report(run_dir, out, force=force)
    console = plain_console()
    truth = numbers["truth"]
    if truth:
        console.print(", ".join(f"{key.replace('_', ' ')} {format_number(truth[key])}" for key in
                                ("flipped", "suspicion_auroc", "proposal_precision",
                                 "proposal_recall", "clean_labels_changed", "net_gain")))
    console.print(f"{numbers['proposals']} proposals ({describe_rule(numbers['proposal_rule'])}) "
                  f"on {numbers['training_samples']} training samples; report written to "
                  f"{out / PAGE}")
