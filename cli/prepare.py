"""`curator prepare`: detect, align and crop the face in every image, ready for `curator train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from curator_cli.common import plain_console, user_errors

Opt = typer.Option


def prepare(
    data: Annotated[Path, typer.Argument(
        help="Folder, CSV or data set root (RAF-DB, FER2013, FERPlus, AffectNet).")],
    out: Annotated[Path, Opt("--out", "-o", help="Folder for the crops, labels.csv and no_face.csv.")],
    image_size: Annotated[int, Opt(help="Side of the square face crops, pixels.")] = 224,
    margin: Annotated[int, Opt(help="Context around the face, in pixels of the crop.")] = 0,
    data_format: Annotated[str, Opt(
        "--format", help="auto|folder|csv|rafdb|fer2013|ferplus|affectnet")] = "auto",
    label_column: Annotated[str, Opt(help="CSV column holding the labels.")] = "label",
    device: Annotated[str, Opt(help="cpu | cuda | auto")] = "cpu",
    skip_bad: Annotated[bool, Opt(
        "--skip-bad", help="Skip unreadable or missing images (listed in OUT).")] = False,
    force: Annotated[bool, Opt(
        "--force", help="Redo every crop, even with other settings in OUT.")] = False,
) -> None:
    """Crop the face of every image with MTCNN; `curator train OUT/labels.csv` trains on the crops."""
    from curator.data.importers import import_data
    from curator.faces import BAD_IMAGES, NO_FACE, prepare_faces

    console = plain_console()
    with user_errors():
        imported = import_data(data, format=data_format, label_column=label_column, skip_bad=skip_bad)
        if imported.summary():
            console.print(imported.summary(), highlight=False, soft_wrap=True)
        columns = (TextColumn("detecting faces"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True,
                      disable=not console.is_terminal) as progress:
            task = progress.add_task("faces", total=len(imported.manifest))
            result = prepare_faces(imported.manifest, out, image_size=image_size, margin=margin,
                                   device=device, force=force, skip_bad=skip_bad,
                                   progress=lambda: progress.advance(task))
    console.print(f"{result.cropped} faces cropped, {result.reused} reused from an earlier run",
                  highlight=False)
    if result.no_face:
        console.print(Text.assemble((f"{result.no_face} image(s) with no face found", "yellow"),
                                    f", listed in {out / NO_FACE}"), highlight=False, soft_wrap=True)
    if result.bad:
        console.print(Text.assemble((f"{result.bad} unreadable image(s) skipped", "yellow"),
                                    f", listed in {out / BAD_IMAGES}"), highlight=False, soft_wrap=True)
    console.print(f"next: curator train {result.labels_csv} --out RUN_DIR", highlight=False,
                  soft_wrap=True)
