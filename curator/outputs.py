"""Writing user-facing outputs (export files and trees, report folders) without losing data.

`prepare_output` runs first: the parent folder must exist, and an existing output is replaced
only with `force` — a folder only when curator wrote it (it carries MARKER), so `--force`
cannot wipe an unrelated folder. `write_folder_atomically` then builds the folder beside its
target and swaps it in, so an error never leaves a partial output. Single files go through
`curator.runlog.atomic_write`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable

from curator.errors import DataError

MARKER = ".curator-output.json"


def prepare_output(out: Path, *, force: bool, folder: bool) -> None:
    """Raise DataError unless OUT can be written: parent exists, OUT new, empty or replaceable."""
    out = Path(out)
    if not out.parent.is_dir():
        raise DataError(f"--out {out}: folder {out.parent} does not exist; create it first or "
                        "choose another --out")
    if not out.exists() and not out.is_symlink():
        return
    if folder and out.is_dir() and not any(out.iterdir()):
        return
    if not force:
        raise DataError(f"--out {out} already exists; add --force to replace it, or choose "
                        "another --out")
    if folder and not (out / MARKER).is_file():
        raise DataError(f"--out {out} exists and was not written by curator; refusing to "
                        "replace it, choose another --out")
    if not folder and out.is_dir():
        raise DataError(f"--out {out} is a folder; give a file name such as {out / 'cleaned.csv'}")


def write_folder_atomically(out: Path, build: Callable[[Path], None], *, written_by: str) -> None:
    """Call `build(folder)` on a hidden sibling folder, then swap it in place of OUT."""
    out = Path(out)
    staging = _sibling(out, "tmp")
    staging.mkdir()
    try:
        build(staging)
        (staging / MARKER).write_text(json.dumps({"written_by": written_by}) + "\n")
        if out.exists():
            old = _sibling(out, "old")
            os.rename(out, old)
            os.rename(staging, out)
            shutil.rmtree(old)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _sibling(out: Path, kind: str) -> Path:
    """An unused hidden path beside `out`, on the same file system so renames are atomic."""
    return out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.{kind}"
