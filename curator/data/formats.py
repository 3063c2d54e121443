"""Readers for the generic layouts (class folders, a labels CSV) and for RAF-DB and AffectNet.

A reader turns one layout into a `Parsed` table: `filepath` (absolute), `label` (a class name,
kept as the string the data set uses), `split`, `origin` (where the row came from, "FILE: line N",
for error messages) and optionally `votes`. It leaves out only rows the data set itself marks as
unusable (AffectNet's "no face"), listing them in `Parsed.skipped`; checks shared by every layout
(empty labels, missing image files) happen once, in `curator.data.importers`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from curator.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}
RAFDB_LABELS = "EmoLabel/list_patition_label.txt"
RAFDB_CLASSES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
AFFECTNET_CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
AFFECTNET_EXCLUDED = {8: "AffectNet expression 8 (none)", 9: "AffectNet expression 9 (uncertain)",
                      10: "AffectNet expression 10 (no face)"}
AFFECTNET_COLUMNS = ("subDirectory_filePath", "expression")
AFFECTNET_IMAGES = "Manually_Annotated_Images"


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader receives (each uses the ones its layout needs)."""

    label_column: str = "label"
    cache_dir: Path | None = None
    skip_bad: bool = False


@dataclass(frozen=True)
class Parsed:
    """What a reader found: the rows, the class order (None = sorted labels), rows left out."""

    table: pd.DataFrame
    classes: tuple[str, ...] | None
    skipped: pd.DataFrame


Reader = Callable[[Path, ReadOptions], Parsed]


# ---------------------------------------------------------------- shared helpers
def skipped_rows(filepaths: list[str], reasons: list[str]) -> pd.DataFrame:
    """The `filepath, reason` table every step uses to report rows it left out."""
    return pd.DataFrame({"filepath": pd.Series(filepaths, dtype=object),
                         "reason": pd.Series(reasons, dtype=object)})


def absolute(base: Path, value: str) -> str:
    """`value` as a normalised absolute path, relative paths taken from `base` ('' stays '')."""
    value = str(value).strip()
    if not value:
        return ""
    return os.path.normpath(os.path.join(os.path.abspath(base), os.path.expanduser(value)))


def read_table(path: Path, *, needed: tuple[str, ...] | list[str] = (), optional: tuple[str, ...] = (),
               fix: str = "rename the columns", header: bool = True) -> pd.DataFrame:
    """Read a CSV with every cell as a string ('' where empty).

    With `needed`, only the needed and optional columns are read, after checking the header has
    every needed one (DataError naming the missing columns and listing those the file has).
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist; check the path")
    options = dict(dtype=str, keep_default_na=False, skipinitialspace=True)
    try:
        if not header:
            return pd.read_csv(path, header=None, **options)
        if needed:
            columns = list(pd.read_csv(path, nrows=0, **options).columns)
            missing = [c for c in needed if c not in columns]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)}; it has "
                                f"{', '.join(map(str, columns)) or 'none'}; {fix}")
            wanted = {*needed, *optional}
            return pd.read_csv(path, usecols=lambda c: c in wanted, **options)
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; it needs a header line and one line per image") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot parse as CSV ({str(error).splitlines()[0]}); "
                        "save it as UTF-8 comma-separated text") from None


def line_origins(path: Path, count: int, *, first_line: int = 2) -> list[str]:
    """'FILE: line N' for each data row of a file whose first data row is on `first_line`."""
    return [f"{path}: line {first_line + i}" for i in range(count)]


def normalise_splits(values: pd.Series, origins: list[str]) -> list[str]:
    """Map split spellings (training, valid, testing, any case) to train|val|test; '' = train."""
    splits = []
    for value, origin in zip(values, origins):
        key = str(value).strip().lower() or "train"
        if key not in SPLIT_NAMES:
            raise DataError(f"{origin}: split {value!r} must be train, val or test")
        splits.append(SPLIT_NAMES[key])
    return splits


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


# ---------------------------------------------------------------- readers
def read_folder(path: Path, options: ReadOptions) -> Parsed:
    """DATA/<class>/<image>, or DATA/<split>/<class>/<image> when every subfolder is a split name."""
    if not path.is_dir():
        raise DataError(f"{path}: --format folder needs a folder with one subfolder per class")
    subfolders = _visible_dirs(path)
    by_split = all(d.name.lower() in SPLIT_NAMES for d in subfolders) and bool(subfolders)
    roots = [(d, SPLIT_NAMES[d.name.lower()]) for d in subfolders] if by_split else [(path, "train")]
    rows = []
    for root, split in roots:
        for class_dir in _visible_dirs(root):
            images = _images_under(class_dir)
            if not images:
                raise DataError(f"{class_dir}: class folder has no images "
                                f"({', '.join(sorted(IMAGE_EXTENSIONS))}); add images or remove it")
            rows += [(str(image), class_dir.name, split, str(image)) for image in images]
    if not rows:
        raise DataError(f"{path}: no class subfolders with images; expected {path}/<class>/<image>.jpg, "
                        "a labels CSV, or a RAF-DB, FER2013, FERPlus or AffectNet layout")
    table = pd.DataFrame(rows, columns=["filepath", "label", "split", "origin"])
    return Parsed(table, None, skipped_rows([], []))


def read_labels_csv(path: Path, options: ReadOptions) -> Parsed:
    """A CSV with `filepath` and a label column (paths relative to the CSV), optional `split`."""
    if not path.is_file():
        raise DataError(f"{path}: --format csv needs a CSV file with columns filepath,label")
    frame = read_table(path, needed=["filepath", options.label_column], optional=("split",),
                       fix="name them filepath and label, or pass --label-column")
    origins = line_origins(path, len(frame))
    table = pd.DataFrame({
        "filepath": [absolute(path.parent, p) for p in frame["filepath"]],
        "label": frame[options.label_column].str.strip(),
        "origin": origins,
    })
    if "split" in frame:
        table["split"] = normalise_splits(frame["split"], origins)
    return Parsed(table, None, skipped_rows([], []))


def read_rafdb(path: Path, options: ReadOptions) -> Parsed:
    """RAF-DB basic: EmoLabel/list_patition_label.txt + Image/aligned (else Image/original)."""
    root = path.parent.parent if path.is_file() else path
    labels = root / RAFDB_LABELS
    if not labels.is_file():
        raise DataError(f"{root}: not a RAF-DB folder (no {RAFDB_LABELS}); point at the folder "
                        "holding EmoLabel/ and Image/")
    aligned = (root / "Image" / "aligned").is_dir()
    image_dir = root / "Image" / ("aligned" if aligned else "original")
    rows = []
    for number, line in enumerate(labels.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{labels}: line {number}"
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(RAFDB_CLASSES):
            raise DataError(f"{origin}: expected '<image> <label 1-7>' like 'train_00001.jpg 5', "
                            f"got {line.strip()!r}")
        name, code = parts
        split = "train" if name.startswith("train") else "test" if name.startswith("test") else None
        if split is None:
            raise DataError(f"{origin}: image name {name!r} must start with train or test")
        stem, extension = os.path.splitext(name)
        filename = f"{stem}_aligned{extension}" if aligned else name
        rows.append((str(image_dir / filename), RAFDB_CLASSES[int(code) - 1], split, origin))
    table = pd.DataFrame(rows, columns=["filepath", "label", "split", "origin"])
    return Parsed(table, RAFDB_CLASSES, skipped_rows([], []))


def read_affectnet(path: Path, options: ReadOptions) -> Parsed:
    """AffectNet's CSV (subDirectory_filePath, expression 0-10); images under the CSV's folder or a
    Manually_Annotated_Images/ folder beside the CSV or beside its folder."""
    if not path.is_file():
        raise DataError(f"{path}: --format affectnet needs AffectNet's CSV file "
                        "(training.csv or validation.csv)")
    frame = read_table(path, needed=AFFECTNET_COLUMNS, fix="use AffectNet's own CSV file")
    candidates = [path.parent / AFFECTNET_IMAGES, path.parent.parent / AFFECTNET_IMAGES]
    base = next((c for c in candidates if c.is_dir()), path.parent)
    origins = line_origins(path, len(frame))
    filepaths = [absolute(base, p) for p in frame["subDirectory_filePath"]]
    rows, skipped_paths, reasons = [], [], []
    for filepath, code, origin in zip(filepaths, frame["expression"], origins):
        if not code.strip().isdigit() or int(code) > max(AFFECTNET_EXCLUDED):
            raise DataError(f"{origin}: expression {code!r} must be an integer 0-10")
        value = int(code)
        if value in AFFECTNET_EXCLUDED:
            skipped_paths.append(filepath)
            reasons.append(AFFECTNET_EXCLUDED[value])
        else:
            rows.append((filepath, AFFECTNET_CLASSES[value], origin))
    table = pd.DataFrame(rows, columns=["filepath", "label", "origin"])
    return Parsed(table, AFFECTNET_CLASSES, skipped_rows(skipped_paths, reasons))
