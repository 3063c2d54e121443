"""Importers: any supported data set layout in, one `Manifest` out, plus an image check.

`import_data(path)` detects the layout (or takes `format=`), reads it with the reader of
`curator.data.formats` / `curator.data.fer`, then applies the checks every layout shares: a row
with an empty label, or whose image file does not exist, is an error naming the file and line
(with `skip_bad=True` such rows are skipped and listed instead). It returns an `ImportResult`:
the manifest, the layout and `skipped` (filepath, reason) of the rows left out, including those
the data set itself marks unusable (FERPlus rows without an emotion majority, AffectNet's
none/uncertain/no-face). `ImportResult.summary()` is the line to show the user. Layouts with a
fixed class list (RAF-DB, FER2013, FERPlus, AffectNet) keep its order but drop classes that have
no image at all (e.g. FERPlus contempt in a small subset).

Auto-detection (`format="auto"`), first match wins:

| DATA is                                                                     | format    |
| --------------------------------------------------------------------------- | --------- |
| a folder holding `EmoLabel/list_patition_label.txt`                         | rafdb     |
| a folder holding `fer2013new.csv`, or `FER2013Train/label.csv` (also under  | ferplus   |
| `data/` or `images/`)                                                       |           |
| a folder holding `fer2013.csv`                                              | fer2013   |
| a folder holding `labels.csv` (read as that CSV)                            | csv       |
| any other folder                                                            | folder    |
| the file `fer2013new.csv`, or a `label.csv` inside `FER2013Train/` (`Valid`, `Test`) | ferplus |
| a CSV with columns emotion, pixels                                          | fer2013   |
| a CSV with columns subDirectory_filePath, expression                        | affectnet |
| a CSV with columns `Image name`, NF                                         | ferplus   |
| any other file                                                              | csv       |
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from curator.data.fer import (FER2013_CSV, FERPLUS_CSV, FERPLUS_FOLDERS, ferplus_label_files,
                              read_fer2013, read_ferplus)
from curator.data.formats import (AFFECTNET_COLUMNS, RAFDB_LABELS, Parsed, Reader, ReadOptions,
                                  read_affectnet, read_folder, read_labels_csv, read_rafdb,
                                  skipped_rows)
from curator.data.manifest import Manifest, build
from curator.errors import DataError

READERS: dict[str, Reader] = {
    "folder": read_folder,
    "csv": read_labels_csv,
    "rafdb": read_rafdb,
    "fer2013": read_fer2013,
    "ferplus": read_ferplus,
    "affectnet": read_affectnet,
}
FORMATS = ("auto", *READERS)
# A folder holding this file is read as that CSV (e.g. sample_data/, or `curator prepare` output).
LABELS_CSV = "labels.csv"
# What PIL raises for a file it cannot decode (UnidentifiedImageError is an OSError).
IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True)
class ImportResult:
    """An imported data set: the manifest, its layout and the rows left out (filepath, reason)."""

    manifest: Manifest
    format: str
    skipped: pd.DataFrame

    def summary(self) -> str:
        """'skipped 3 of 10 rows: 2 <reason>, 1 <reason>', or '' when nothing was left out."""
        if self.skipped.empty:
            return ""
        total = len(self.manifest) + len(self.skipped)
        return f"skipped {len(self.skipped)} of {total} rows: {_reason_counts(self.skipped)}"


def load_manifest(path: Path | str, *, format: str = "auto", label_column: str = "label",
                  cache_dir: Path | str | None = None, skip_bad: bool = False) -> Manifest:
    """The Manifest of a data set (see `import_data`, which also reports what was skipped)."""
    return import_data(path, format=format, label_column=label_column, cache_dir=cache_dir,
                       skip_bad=skip_bad).manifest


def import_data(path: Path | str, *, format: str = "auto", label_column: str = "label",
                cache_dir: Path | str | None = None, skip_bad: bool = False) -> ImportResult:
    """Read a data set in any supported layout (module docstring) into an ImportResult.

    `label_column` picks the label column of a plain CSV (e.g. `final_label` of an exported
    CSV); `cache_dir` is where FER2013 pixels become PNG files (default beside fer2013.csv).
    """
    path = Path(os.path.abspath(path))
    if format not in FORMATS:
        raise DataError(f"unknown --format {format!r}; choose one of: {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"{path} does not exist; give a folder of class subfolders, a labels CSV "
                        "or a RAF-DB, FER2013, FERPlus or AffectNet folder")
    name = detect_format(path) if format == "auto" else format
    if name == "csv" and path.is_dir():
        path = path / LABELS_CSV
    options = ReadOptions(label_column=label_column,
                          cache_dir=Path(cache_dir) if cache_dir else None, skip_bad=skip_bad)
    parsed = READERS[name](path, options)
    table, skipped = _check_rows(parsed, skip_bad)
    if table.empty:
        detail = f" (skipped {_reason_counts(skipped)})" if len(skipped) else ""
        raise DataError(f"{path}: no usable images found{detail}; check the layout or pass --format")
    classes = parsed.classes and tuple(c for c in parsed.classes if c in set(table["label"]))
    manifest = build(table.drop(columns="origin"), classes, f"{path} ({name})")
    return ImportResult(manifest, name, skipped)


def detect_format(path: Path) -> str:
    """The layout name of DATA (see the table in the module docstring)."""
    if path.is_dir():
        if (path / RAFDB_LABELS).is_file():
            return "rafdb"
        if (path / FERPLUS_CSV).is_file() or ferplus_label_files(path):
            return "ferplus"
        if (path / FER2013_CSV).is_file():
            return "fer2013"
        if (path / LABELS_CSV).is_file():
            return "csv"
        return "folder"
    if path.name == FERPLUS_CSV or (path.name == "label.csv"
                                    and path.parent.name in FERPLUS_FOLDERS.values()):
        return "ferplus"
    try:
        columns = set(pd.read_csv(path, nrows=0, dtype=str, skipinitialspace=True).columns)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        columns = set()  # not a readable CSV: the csv reader reports it
    if {"emotion", "pixels"} <= columns:
        return "fer2013"
    if set(AFFECTNET_COLUMNS) <= columns:
        return "affectnet"
    if {"Image name", "NF"} <= columns:
        return "ferplus"
    return "csv"


def image_problem(path: str) -> str | None:
    """Why the image at `path` cannot be used ('file missing', 'unreadable: ...'), or None."""
    if not os.path.isfile(path):
        return "file missing"
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))  # JPEGs decode at reduced scale: a full check, cheaply
            image.load()
    except IMAGE_ERRORS as error:
        return f"unreadable: {error}"
    return None


def check_images(manifest: Manifest, *, skip_bad: bool,
                 progress: Callable[[], None] | None = None) -> tuple[Manifest, pd.DataFrame]:
    """Decode every image; raise on the first bad one, or with `skip_bad` drop the bad rows.

    Returns the manifest (renumbered when rows were dropped) and `skipped` (filepath, reason).
    `progress` is called once per image checked.
    """
    bad_paths, reasons = [], []
    for path in manifest.table["filepath"]:
        problem = image_problem(path)
        if progress is not None:
            progress()
        if problem is None:
            continue
        if not skip_bad:
            raise DataError(f"{path}: {problem}; fix or remove it, or pass --skip-bad to skip "
                            "and list bad images")
        bad_paths.append(path)
        reasons.append(problem)
    skipped = skipped_rows(bad_paths, reasons)
    if skipped.empty:
        return manifest, skipped
    kept = manifest.table[~manifest.table["filepath"].isin(set(bad_paths))]
    return build(kept.drop(columns="sample_id"), manifest.classes, manifest.source), skipped


def _check_rows(parsed: Parsed, skip_bad: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Empty labels and missing image files: an error at the first, or skipped with skip_bad."""
    table = parsed.table.reset_index(drop=True)
    label_empty = table["label"].isna() | (table["label"].astype(str).str.strip() == "")
    file_missing = ~table["filepath"].map(os.path.isfile).astype(bool)
    problems = pd.Series(None, index=table.index, dtype=object)
    problems[file_missing] = "image file missing"
    problems[label_empty] = "label empty"
    bad = problems.notna()
    if bad.any() and not skip_bad:
        row = table[bad].iloc[0]
        if problems[bad].iloc[0] == "label empty":
            raise DataError(f"{row['origin']}: the label is empty; fill it in, or pass --skip-bad "
                            "to skip unlabelled rows")
        shown = row["filepath"] or "(empty)"
        raise DataError(f"{row['origin']}: image {shown} does not exist; fix the path, or pass "
                        "--skip-bad to skip missing images")
    skipped = pd.concat([parsed.skipped, skipped_rows(list(table.loc[bad, "filepath"]),
                                                      list(problems[bad]))], ignore_index=True)
    return table[~bad], skipped


def _reason_counts(skipped: pd.DataFrame) -> str:
    counts = skipped["reason"].value_counts()
    return ", ".join(f"{count} {reason}" for reason, count in counts.items())
