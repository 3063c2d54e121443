"""`curator evaluate RUN_DIR --data TEST`: accuracy of a run's model on labelled test data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from curator_cli.common import plain_console, user_errors

Opt = typer.Option


def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `curator train`.")],
    data: Annotated[str, Opt("--data", help="Labelled test data: folder, CSV or data set root (any `curator train` format).")],
    data_format: Annotated[str, Opt("--format", help="auto|folder|csv|rafdb|fer2013|ferplus|affectnet")] = "auto",
    label_column: Annotated[str, Opt(help="CSV column holding the test labels.")] = "label",
    split: Annotated[str, Opt(help="auto (the test split if the data has one, else all) | all | train | val | test")] = "auto",
    checkpoint: Annotated[str, Opt(help="best | last")] = "best",
    device: Annotated[str, Opt(help="auto | cpu | cuda")] = "auto",
    batch_size: Annotated[int, Opt(help="Images per forward pass.")] = 128,
    workers: Annotated[int, Opt(help="Data-loading worker processes.")] = 0,
    skip_bad: Annotated[bool, Opt("--skip-bad", help="Skip unreadable test images instead of stopping.")] = False,
    out: Annotated[Optional[Path], Opt("--out", "-o", help="Also write evaluation.json and confusion.png to this folder.")] = None,
    force: Annotated[bool, Opt("--force", help="Replace an earlier evaluation in --out.")] = False,
) -> None:
    """Accuracy, per-class accuracy and confusion matrix of the run's model on a labelled test set."""
    from curator.evaluate import evaluate as run_evaluation

    with user_errors():
        evaluation = run_evaluation(run_dir, data, data_format=data_format, label_column=label_column,
                                    split=split, checkpoint=checkpoint, device=device,
                                    batch_size=batch_size, workers=workers, skip_bad=skip_bad,
                                    out=out, force=force)
    classes = evaluation.classes
    table = Table(title=f"accuracy {evaluation.accuracy:.3f} on {evaluation.samples} images "
                        f"({evaluation.split} split)")
    table.add_column("true \\ predicted")
    for name in classes:
        table.add_column(name, justify="right")
    table.add_column("samples", justify="right")
    table.add_column("accuracy", justify="right")
    for name, counts, accuracy in zip(classes, evaluation.confusion, evaluation.per_class_accuracy):
        table.add_row(name, *(str(c) for c in counts), str(counts.sum()),
                      "—" if math.isnan(accuracy) else f"{accuracy:.3f}")
    plain_console().print(table)
