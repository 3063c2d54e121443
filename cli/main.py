"""The curator Typer app: commands parse options and delegate to the `curator` library.

Each command lives in its own module of this package and is registered here.
"""

import typer

from curator_cli import train
from curator_cli import export
from curator_cli import report
from curator_cli import evaluate
from curator_cli import prepare
from curator_cli import review

app = typer.Typer(help="Find and fix noisy labels in facial-expression data with SCN.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

app.command("train")(train.train)
app.command("export")(export.export)
app.command("report")(report.report)
app.command("evaluate")(evaluate.evaluate)
app.command("prepare")(prepare.prepare)
app.command("review")(review.review)

if __name__ == "__main__":
    app()
