"""Writing a cleaned label table as a CSV, a class-per-folder tree or a RAF-DB layout.

Call `curator.outputs.prepare_output` first (it refuses to overwrite); every writer then builds
its output beside the target and renames it into place, so an error never leaves a partial
output. Image trees hold symlinks to the original files (copies with `copy`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pandas as pd

from curator import runlog
from curator.data.formats import RAFDB_CLASSES, RAFDB_LABELS
from curator.emotions import canonical
from curator.errors import DataError
from curator.export.labels import SCORE_COLUMNS
from curator.outputs import write_folder_atomically

CSV_COLUMNS = ("filepath", "split", "original_label", "proposed_label", "final_label", "status",
               "scn_weight", "suspicion", "ambiguity", "confidence", "expected_gain")
RAFDB_IMAGES = "Image/aligned"


def write_csv(table: pd.DataFrame, out: Path) -> None:
    """The cleaned table as CSV; `split` only when some sample is not in the train split.

    `filepath` is absolute, so the CSV works from any folder (`curator train cleaned.csv
    --label-column final_label`).
    """
    columns = [c for c in CSV_COLUMNS if c != "split" or (table["split"] != "train").any()]
    rounded = table[columns].round({column: 6 for column in SCORE_COLUMNS})  # float_format is slow
    runlog.atomic_write(out, lambda tmp: rounded.to_csv(tmp, index=False))


def write_folder(table: pd.DataFrame, out: Path, *, copy: bool = False) -> None:
    """OUT/final_label/image links (OUT/split/final_label/... when the data has splits)."""
    with_split = (table["split"] != "train").any()
    names = _unique_names(table)

    def build(root: Path) -> None:
        for split, label, source, name in zip(table["split"], table["final_label"],
                                              table["filepath"], names):
            folder = root / split / label if with_split else root / label
            _place_image(Path(source), folder / name, copy=copy)

    write_folder_atomically(out, build, written_by="curator export")


def write_rafdb(table: pd.DataFrame, out: Path, *, copy: bool = False) -> None:
    """RAF-DB layout: EmoLabel/list_patition_label.txt (`train_00001.png 4`) + Image/aligned/.

    Validation samples go to RAF-DB's `test_` side, which RAF-DB users train against.
    """
    ids = {label: rafdb_id(label) for label in table["final_label"].unique()}
    prefixes = table["split"].map({"train": "train"}).fillna("test")
    numbers = prefixes.groupby(prefixes).cumcount() + 1

    def build(root: Path) -> None:
        lines = []
        (root / RAFDB_IMAGES).mkdir(parents=True)
        for prefix, number, label, source in zip(prefixes, numbers, table["final_label"],
                                                 table["filepath"]):
            stem = f"{prefix}_{number:05d}" if prefix == "train" else f"{prefix}_{number:04d}"
            suffix = Path(source).suffix
            lines.append(f"{stem}{suffix} {ids[label]}\n")
            _place_image(Path(source), root / RAFDB_IMAGES / f"{stem}_aligned{suffix}", copy=copy)
        (root / RAFDB_LABELS).parent.mkdir(parents=True)
        (root / RAFDB_LABELS).write_text("".join(lines))

    write_folder_atomically(out, build, written_by="curator export")


IMAGE_TREES: dict[str, Callable[..., None]] = {"folder": write_folder, "rafdb": write_rafdb}
FORMATS = ("csv", *IMAGE_TREES)


def rafdb_id(label: str) -> int:
    """RAF-DB's class id (1-7) of a class name (aliases such as happy allowed); DataError if none."""
    name = canonical(label)
    if name not in RAFDB_CLASSES:
        raise DataError(f"class {label!r} has no RAF-DB id (RAF-DB knows "
                        f"{', '.join(RAFDB_CLASSES)}); export with --format csv or folder instead")
    return RAFDB_CLASSES.index(name) + 1


def _place_image(source: Path, target: Path, *, copy: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        target.symlink_to(source)
        return
    try:
        shutil.copy2(source, target)
    except OSError as error:
        raise DataError(f"cannot copy {source}: {error.strerror}; fix the file or export "
                        "without --copy (symlinks)") from None


def _unique_names(table: pd.DataFrame) -> list[str]:
    """Image file names; names used twice get the sample id so links never collide."""
    names = table["filepath"].map(lambda p: Path(p).name)
    repeated = names.duplicated(keep=False)
    stems = table["filepath"].map(lambda p: Path(p).stem)
    suffixes = table["filepath"].map(lambda p: Path(p).suffix)
    unique = stems + "-" + table["sample_id"].astype(str) + suffixes
    return names.where(~repeated, unique).tolist()
