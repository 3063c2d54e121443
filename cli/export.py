"""`curator export SOURCE --out FILE`: write the cleaned labels of a run or a review dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from curator_cli.common import plain_console, user_errors

Opt = typer.Option


def export(
    source: Annotated[str, typer.Argument(help="Run directory (from `curator train`) or review dataset name (from `curator review`).")],
    out: Annotated[Path, Opt("--out", "-o", help="File (csv) or folder (folder, rafdb) to write.")],
    policy: Annotated[str, Opt(help="For proposals nobody reviewed: keep (original label) | accept-proposals.")] = "keep",
    min_confidence: Annotated[Optional[float], Opt(help="With accept-proposals: only take proposals at least this confident.")] = None,
    ambiguous: Annotated[str, Opt(help="Ambiguous faces: keep (original label) | drop | list (also write a re-annotation list).")] = "keep",
    output_format: Annotated[str, Opt("--format", help="csv | folder (class-per-folder links) | rafdb (EmoLabel + Image/aligned).")] = "csv",
    copy: Annotated[bool, Opt("--copy", help="Copy images into folder/rafdb trees instead of linking them.")] = False,
    force: Annotated[bool, Opt("--force", help="Replace an existing output.")] = False,
    partial: Annotated[bool, Opt("--partial", help="Export a run that is still training from its completed epochs.")] = False,
) -> None:
    """Write one row per sample with original, proposed and final label, review status and scores."""
    from curator.export import export as export_labels
    from curator.export import expected_net_gain, label_changes

    with user_errors():
        table = export_labels(source, out, policy=policy, min_confidence=min_confidence,
                              ambiguous=ambiguous, fmt=output_format, copy=copy, force=force, partial=partial)
    console = plain_console()
    changes = label_changes(table)
    summary = Table(title=f"{int(changes['count'].sum())} changed labels")
    for column in ("original", "final", "samples"):
        summary.add_column(column, justify="right" if column == "samples" else "left")
    for row in changes.itertuples(index=False):
        summary.add_row(row.original_label, row.final_label, str(row.count))
    console.print(summary)
    statuses = table["status"].value_counts()
    console.print(", ".join(f"{name}: {count}" for name, count in statuses.items()))
    if policy == "accept-proposals":
        console.print(f"expected net gain of the proposals taken: {expected_net_gain(table):+.1f} "
                      "right labels")
    console.print(f"wrote {len(table)} samples to {out}")
