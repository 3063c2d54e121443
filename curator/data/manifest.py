"""Manifest: the one table of samples that every importer returns and training reads.

Columns of `Manifest.table` (one row per image, `sample_id` = row position 0..N-1):

| column     | type | meaning                                                            |
| ---------- | ---- | ------------------------------------------------------------------ |
| sample_id  | int  | stable id of the sample inside a run                               |
| filepath   | str  | absolute path of the image                                         |
| label      | str  | the given label (a class name from `classes`)                      |
| split      | str  | `train`, `holdout`, `val` or `test` (`train` where the source has none) |
| truth      | str  | optional: the known clean label, for evaluation only               |
| votes      | str  | optional: annotator vote counts, `class:count|class:count`         |

`classes` is the ordered class list; a label's index in it is its class index everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
import pandas as pd

from curator.errors import DataError

REQUIRED_COLUMNS = ("sample_id", "filepath", "label", "split")
SPLITS = ("train", "holdout", "val", "test")


@dataclass(frozen=True)
class Manifest:
    """Samples (a DataFrame, see the module docstring) plus their ordered class list."""

    table: pd.DataFrame
    classes: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        validate(self.table, self.classes, self.source)

    def __len__(self) -> int:
        return len(self.table)

    def label_indices(self, column: str = "label") -> pd.Series:
        """Class indices of a label column (-1 where the value is missing)."""
        index = {name: i for i, name in enumerate(self.classes)}
        return self.table[column].map(index).fillna(-1).astype("int64")


def build(rows: pd.DataFrame, classes: list[str] | tuple[str, ...] | None, source: str) -> Manifest:
    """Number the rows, fill a missing split with `train` and derive classes if not given."""
    table = rows.reset_index(drop=True).copy()
    if "split" not in table:
        table["split"] = "train"
    table["split"] = table["split"].fillna("train").astype(str)
    table.insert(0, "sample_id", range(len(table)))
    if classes is None:
        classes = sorted(table["label"].astype(str).unique())
    return Manifest(table, tuple(classes), source)


def validate(table: pd.DataFrame, classes: tuple[str, ...], source: str) -> None:
    """Raise DataError naming the file and row when the table breaks a Manifest rule."""
    where = source or "the data"
    missing = [c for c in REQUIRED_COLUMNS if c not in table]
    if missing:
        raise DataError(f"{where}: manifest lacks column(s) {', '.join(missing)}")
    if len(table) == 0:
        raise DataError(f"{where}: the data set is empty; point curator at a folder or CSV "
                        "with labelled images")
    if len(set(classes)) != len(classes):
        raise DataError(f"{where}: the class list {list(classes)} names a class twice")
    known = set(classes)
    for column in ("label", "truth"):
        if column not in table:
            continue
        values = table[column]
        bad = ~values.isin(known) & (values.notna() if column == "truth" else True)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(f"{where}: row {row + 1}: {column} {values.iloc[row]!r} is not one of "
                            f"the classes {list(classes)}")
    bad_split = ~table["split"].isin(SPLITS)
    if bad_split.any():
        row = int(bad_split.to_numpy().nonzero()[0][0])
        raise DataError(f"{where}: row {row + 1}: split {table['split'].iloc[row]!r} must be one "
                        f"of {', '.join(SPLITS)}")
    duplicated = table["filepath"].duplicated()
    if duplicated.any():
        row = int(duplicated.to_numpy().nonzero()[0][0])
        raise DataError(f"{where}: row {row + 1}: duplicate image path {table['filepath'].iloc[row]}; "
                        "each image may appear once")


def validation_rows(manifest: Manifest) -> pd.DataFrame:
    """The rows training validates on: split `val`, or `test` where there is no `val` (may be none)."""
    table = manifest.table
    for split in ("val", "test"):
        rows = table[table["split"] == split]
        if len(rows):
            return rows
    return table.iloc[:0]


def require_trainable(manifest: Manifest) -> None:
    """Raise DataError unless there are two or more classes, each with training samples."""
    where = manifest.source or "the data"
    if len(manifest.classes) < 2:
        raise DataError(f"{where}: need at least two classes to train, got {list(manifest.classes)}")
    train_labels = set(manifest.table.loc[manifest.table["split"] == "train", "label"])
    empty = [c for c in manifest.classes if c not in train_labels]
    if empty:
        raise DataError(f"{where}: class(es) {', '.join(empty)} have no training samples; "
                        "add images or drop the class from the class list")
