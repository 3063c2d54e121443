"""Rich progress for training: a bar over the batches of each epoch and one summary line per epoch."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text


class RichReporter:
    """The trainer's Reporter for a terminal, printing through `console` (the CLI's, which prints
    strings as they are: no rich markup)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task = None

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        self.progress = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("train", total=batches)

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def end_epoch(self, metrics: dict) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.console.print(format_epoch(metrics), highlight=False)
        if metrics["collapsed"] and not metrics["weights_vanished"]:  # vanished: an error follows
            self.console.print(Text.assemble(
                ("warning:", "yellow"),
                f" epoch {metrics['epoch']}: importance weights collapsed "
                f"(10-90% spread {metrics['weight_p90'] - metrics['weight_p10']:.3f}); the RR loss "
                "no longer separates samples. Try a larger --margin-1 or lower --lr."))


def format_epoch(m: dict) -> str:
    """The one-line summary of an epoch."""
    val = "" if _missing(m["val_acc"]) else f" val {m['val_acc']:.3f}"
    groups = ("" if _missing(m["weight_mean_low"]) else
              f" | weight high {m['weight_mean_high']:.3f} low {m['weight_mean_low']:.3f}")
    return (f"epoch {m['epoch']:>3}  loss {m['loss']:.4f} (rr {m['loss_rr']:.4f})  "
            f"train acc {m['train_acc']:.3f}{val}{groups}  relabels {m['relabels']}  "
            f"{m['seconds']:.1f}s")


def _missing(value: float) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
