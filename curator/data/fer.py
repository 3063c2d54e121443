"""Readers for FER2013 (`fer2013.csv` pixel strings) and FERPlus (10 crowd votes per FER2013 image).

FER2013 images exist only as pixel strings, so they are written once as PNG files named like the
FERPlus images (`fer0000000.png` = row 0 of fer2013.csv) into a cache folder (default
`fer2013_images/` beside fer2013.csv); later imports reuse them, and FER2013 and FERPlus share them.

FERPlus labels are the majority vote, following the FERPlus reference code: single votes count as
noise, and a class needs more than half of the remaining votes. Rows without such a majority, or
whose majority is `unknown` or `NF` (not a face), are left out and reported. The vote counts of the
eight emotion classes are kept in `votes` as `class:count|class:count`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from curator.data.formats import Parsed, ReadOptions, line_origins, read_table, skipped_rows
from curator.errors import DataError
from curator.runlog import atomic_write

FER2013_CSV = "fer2013.csv"
FERPLUS_CSV = "fer2013new.csv"
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FERPLUS_CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
FERPLUS_VOTE_COLUMNS = (*FERPLUS_CLASSES, "unknown", "NF")
USAGE_SPLITS = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
FERPLUS_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
FERPLUS_FOLDER_PARENTS = (".", "data", "images")
SIDE = 48


def read_fer2013(path: Path, options: ReadOptions) -> Parsed:
    """fer2013.csv (emotion 0-6, pixels, Usage), images materialised into the cache folder."""
    csv = _find(path, FER2013_CSV)
    frame = read_table(csv, needed=["emotion", "Usage"], fix="use the original Kaggle fer2013.csv")
    origins = line_origins(csv, len(frame))
    labels = []
    for code, origin in zip(frame["emotion"], origins):
        if not code.strip().isdigit() or int(code) >= len(FER2013_CLASSES):
            raise DataError(f"{origin}: emotion {code!r} must be an integer 0-6")
        labels.append(FER2013_CLASSES[int(code)])
    table = pd.DataFrame({"filepath": _cache_paths(csv, options, len(frame)), "label": labels,
                          "split": _usage_splits(frame["Usage"], origins), "origin": origins})
    bad = materialise(csv, table["filepath"], options)
    return Parsed(table.drop(index=bad.index), FER2013_CLASSES,
                  skipped_rows(list(table.loc[bad.index, "filepath"]), list(bad)))


def read_ferplus(path: Path, options: ReadOptions) -> Parsed:
    """fer2013new.csv (beside fer2013.csv or the FERPlus image folders), or FERPlus's per-split
    FER2013Train|Valid|Test/label.csv files (image name, face box, 10 vote columns, no header)."""
    if (path.is_dir() and (path / FERPLUS_CSV).is_file()) or path.name == FERPLUS_CSV:
        return _read_ferplus_csv(_find(path, FERPLUS_CSV), options)
    label_files = ferplus_label_files(path)
    if not label_files:
        raise DataError(f"{path}: not a FERPlus layout; expected {FERPLUS_CSV} or "
                        "FER2013Train/label.csv (and FER2013Valid/, FER2013Test/)")
    parts = [_read_label_file(label_file, split) for label_file, split in label_files]
    return _ferplus_rows(*(pd.concat(columns, ignore_index=True) for columns in zip(*parts)))


def ferplus_label_files(path: Path) -> list[tuple[Path, str]]:
    """(label.csv, split) for a FERPlus label.csv or a folder holding FER2013Train/label.csv etc."""
    if path.is_file():
        splits = {folder: split for split, folder in FERPLUS_FOLDERS.items()}
        return [(path, splits.get(path.parent.name, "train"))] if path.name == "label.csv" else []
    for parent in FERPLUS_FOLDER_PARENTS:
        found = [(path / parent / folder / "label.csv", split)
                 for split, folder in FERPLUS_FOLDERS.items()
                 if (path / parent / folder / "label.csv").is_file()]
        if found:
            return found
    return []


def materialise(csv: Path, filepaths: pd.Series, options: ReadOptions) -> pd.Series:
    """Write the PNG of each fer2013.csv row (index = row) whose file is missing; return the
    reasons of rows whose pixels are broken (an error unless skip_bad)."""
    missing = [row for row, path in filepaths.items() if not os.path.isfile(path)]
    if not missing:
        return pd.Series(dtype=object)
    cache = Path(filepaths[missing[0]]).parent
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create the FER2013 image cache {cache} ({error.strerror}); "
                        "give a writable cache folder") from None
    pixels = read_table(csv, needed=["pixels"], fix="use the original Kaggle fer2013.csv")["pixels"]
    bad = {}
    for row in missing:
        values = np.array(pixels[row].split(), dtype=np.int64) if _is_pixels(pixels[row]) else None
        if values is None or len(values) != SIDE * SIDE or values.max() > 255:
            if not options.skip_bad:
                raise DataError(f"{csv}: line {row + 2}: pixels must be {SIDE * SIDE} numbers 0-255; "
                                "fix the row, or pass --skip-bad to skip it")
            bad[row] = "broken pixel string"
            continue
        image = Image.fromarray(values.reshape(SIDE, SIDE).astype(np.uint8), mode="L")
        atomic_write(Path(filepaths[row]), lambda tmp, image=image: image.save(tmp, format="PNG"))
    return pd.Series(bad, dtype=object)


def _read_ferplus_csv(csv: Path, options: ReadOptions) -> Parsed:
    frame = read_table(csv, needed=["Usage", "Image name", *FERPLUS_VOTE_COLUMNS],
                       fix="use FERPlus's own fer2013new.csv")
    origins = pd.Series(line_origins(csv, len(frame)))
    splits = pd.Series(_usage_splits(frame["Usage"], list(origins)))
    votes = frame[list(FERPLUS_VOTE_COLUMNS)]
    image_root = next((csv.parent / parent for parent in FERPLUS_FOLDER_PARENTS
                       if any((csv.parent / parent / FERPLUS_FOLDERS["train"]).glob("*.png"))), None)
    if image_root is not None:
        filepaths = pd.Series([str(image_root / FERPLUS_FOLDERS[split] / name) if name.strip() else ""
                               for split, name in zip(splits, frame["Image name"])])
        return _ferplus_rows(filepaths, splits, votes, origins)
    fer2013 = csv.parent / FER2013_CSV
    if not fer2013.is_file():
        raise DataError(f"{csv}: FERPlus needs the FER2013 images: put {FER2013_CSV} beside it, or "
                        "the FERPlus image folders FER2013Train/, FER2013Valid/, FER2013Test/")
    rows = len(read_table(fer2013, needed=["Usage"], fix="use the original Kaggle fer2013.csv"))
    if rows != len(frame):
        raise DataError(f"{csv} has {len(frame)} rows but {fer2013} has {rows}; FERPlus labels must "
                        "match fer2013.csv row for row (use the original, unedited files)")
    filepaths = pd.Series(_cache_paths(fer2013, options, len(frame)))
    parsed = _ferplus_rows(filepaths, splits, votes, origins)
    bad = materialise(fer2013, parsed.table["filepath"], options)
    skipped = skipped_rows(list(parsed.table.loc[bad.index, "filepath"]), list(bad))
    return Parsed(parsed.table.drop(index=bad.index), parsed.classes,
                  pd.concat([parsed.skipped, skipped], ignore_index=True))


def _read_label_file(label_file: Path, split: str) -> tuple[pd.Series, ...]:
    frame = read_table(label_file, header=False)
    if frame.shape[1] < 1 + len(FERPLUS_VOTE_COLUMNS):
        raise DataError(f"{label_file}: expected an image name and {len(FERPLUS_VOTE_COLUMNS)} vote "
                        f"columns per line, found {frame.shape[1]} columns")
    filepaths = frame.iloc[:, 0].map(lambda name: str(label_file.parent / name.strip()))
    votes = frame.iloc[:, -len(FERPLUS_VOTE_COLUMNS):]
    votes.columns = list(FERPLUS_VOTE_COLUMNS)
    origins = pd.Series(line_origins(label_file, len(frame), first_line=1))
    return filepaths, pd.Series([split] * len(frame), dtype=object), votes, origins


def _ferplus_rows(filepaths: pd.Series, splits: pd.Series, votes: pd.DataFrame,
                  origins: pd.Series) -> Parsed:
    """Majority labels and vote strings; rows without a usable majority go to `skipped`."""
    counts = _vote_counts(votes, origins)
    counted = np.where(counts > 1, counts, 0)
    top = counted.argmax(axis=1)
    clear = counted.max(axis=1) * 2 > counted.sum(axis=1)
    emotion = top < len(FERPLUS_CLASSES)
    keep = clear & emotion & (filepaths != "").to_numpy()
    reasons = np.where(~clear, "FERPlus: no clear majority vote",
                       np.where(~emotion, "FERPlus: majority vote unknown or NF (not a face)",
                                "FERPlus: no image name"))
    table = pd.DataFrame({
        "filepath": filepaths.to_numpy()[keep],
        "label": np.asarray(FERPLUS_CLASSES)[top[keep]],
        "split": splits.to_numpy()[keep],
        "votes": ["|".join(f"{name}:{n}" for name, n in zip(FERPLUS_CLASSES, row) if n > 0)
                  for row in counts[keep]],
        "origin": origins.to_numpy()[keep],
    }, index=np.flatnonzero(keep))
    skipped = skipped_rows(list(filepaths[~keep]), list(reasons[~keep]))
    return Parsed(table, FERPLUS_CLASSES, skipped)


def _vote_counts(votes: pd.DataFrame, origins: pd.Series) -> np.ndarray:
    numeric = votes.apply(lambda column: pd.to_numeric(column.str.strip(), errors="coerce"))
    bad = (numeric.isna() | (numeric < 0) | (numeric % 1 != 0)).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{origins.iloc[row]}: vote counts must be whole numbers 0 or more, got "
                        f"{', '.join(votes.iloc[row])}")
    return numeric.to_numpy(dtype=np.int64)


def _usage_splits(usage: pd.Series, origins: list[str]) -> list[str]:
    splits = []
    for value, origin in zip(usage, origins):
        if value.strip() not in USAGE_SPLITS:
            raise DataError(f"{origin}: Usage {value!r} must be one of {', '.join(USAGE_SPLITS)}")
        splits.append(USAGE_SPLITS[value.strip()])
    return splits


def _cache_paths(csv: Path, options: ReadOptions, count: int) -> list[str]:
    cache = Path(options.cache_dir) if options.cache_dir else csv.parent / "fer2013_images"
    cache = Path(os.path.abspath(cache))
    return [str(cache / f"fer{row:07d}.png") for row in range(count)]


def _find(path: Path, filename: str) -> Path:
    """`path` itself if it is a file, else `path/filename`."""
    return path if path.is_file() else path / filename


def _is_pixels(text: str) -> bool:
    return text.replace(" ", "").isdigit()
