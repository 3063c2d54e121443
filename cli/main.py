"""The curator Typer app: commands parse options and delegate to the `curator` library.

Each command lives in its own module of this package and is registered here.
"""

import typer

app = typer.Typer(help="Find and fix noisy labels in facial-expression data with SCN.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

if __name__ == "__main__":
    app()
