"""Known clean labels and annotator votes: attach them to a Manifest, and read vote strings.

Truth labels are for evaluation only (how well curator finds the wrong labels); training never
reads them. They come from a separate CSV (`--truth FILE`, columns filepath,label, paths relative
to that CSV) or from a column of the imported data CSV (`--truth-column NAME`). Votes
(`--votes-column NAME`) are strings `class:count|class:count`, e.g. `neutral:6|sad:3|angry:1`.
Rows are matched to the manifest by resolved absolute image path. A row whose truth is missing or
not a class, or whose votes do not parse, is an error naming the file and line; with `skip_bad`
its truth (or votes) stays missing and it is listed in the returned `skipped` table.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from curator.data.formats import absolute, read_table, skipped_rows
from curator.data.manifest import Manifest
from curator.errors import DataError


def attach_truth(manifest: Manifest, *, truth_csv: Path | str | None = None,
                 truth_column: str | None = None, votes_column: str | None = None,
                 data_csv: Path | str | None = None,
                 skip_bad: bool = False) -> tuple[Manifest, pd.DataFrame]:
    """Fill the manifest's `truth` and/or `votes` columns; returns it and `skipped` (filepath, reason).

    `data_csv` is the CSV the manifest was imported from; `truth_column` and `votes_column` name
    columns of it.
    """
    if truth_csv and truth_column:
        raise DataError("give either --truth FILE or --truth-column NAME, not both")
    if (truth_column or votes_column) and not (data_csv and Path(data_csv).is_file()):
        raise DataError("--truth-column and --votes-column name columns of the data CSV; DATA "
                        f"({data_csv or 'not a CSV'}) must be a CSV file with a filepath column")
    table = manifest.table.copy()
    skipped = []
    if truth_csv or truth_column:
        source = Path(truth_csv or data_csv)
        column = "label" if truth_csv else truth_column
        values = _lookup(source, column, table["filepath"])
        table["truth"], problems = _checked(values, lambda v: _check_truth(v, manifest.classes))
        skipped.append(_report(problems, table["filepath"], skip_bad, "truth"))
    if votes_column:
        values = _lookup(Path(data_csv), votes_column, table["filepath"])
        table["votes"], problems = _checked(values, lambda v: parse_votes(v, manifest.classes))
        skipped.append(_report(problems, table["filepath"], skip_bad, "votes"))
    combined = pd.concat(skipped, ignore_index=True) if skipped else skipped_rows([], [])
    return Manifest(table, manifest.classes, manifest.source), combined


def parse_votes(text: str, classes: Sequence[str]) -> np.ndarray:
    """Vote counts per class (float64, in `classes` order) from 'neutral:6|sad:3|angry:1'.

    Classes not named get 0; a class named twice, an unknown class or a count that is not a
    number 0 or more is a DataError.
    """
    index = {name: i for i, name in enumerate(classes)}
    counts = np.zeros(len(classes))
    if not isinstance(text, str) or not text.strip():
        raise DataError("vote string is empty")
    seen = set()
    for part in text.split("|"):
        name, colon, count = (piece.strip() for piece in part.partition(":"))
        if not colon:
            raise DataError(f"vote {part.strip()!r} is not 'class:count'")
        if name not in index:
            raise DataError(f"vote class {name!r} is not one of the classes {list(classes)}")
        if name in seen:
            raise DataError(f"vote class {name!r} appears twice")
        try:
            value = float(count)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise DataError(f"vote count {count!r} for {name!r} must be a number 0 or more")
        seen.add(name)
        counts[index[name]] = value
    return counts


def vote_entropy(counts: np.ndarray) -> float:
    """Shannon entropy (nats) of the vote distribution; 0 = unanimous, ln(K) = evenly split.

    NaN when there are no votes: an absent measurement, not a unanimous one.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return math.nan
    shares = counts[counts > 0] / total
    return float(-(shares * np.log(shares)).sum())


def _lookup(csv: Path, column: str, filepaths: pd.Series) -> list[tuple[str, str]]:
    """(value, origin) of `column` for each manifest filepath; value '' where the CSV lacks it."""
    frame = read_table(csv, needed=["filepath", column], fix="add the column or fix its name")
    found: dict[str, tuple[str, str]] = {}
    for line, (path, value) in enumerate(zip(frame["filepath"], frame[column]), start=2):
        key = os.path.realpath(absolute(csv.parent, path))
        value = value.strip()
        if key in found and found[key][0] != value:
            raise DataError(f"{csv}: line {line}: image {path} is listed again with a different "
                            f"{column} ({found[key][0]!r} vs {value!r}); keep one line per image")
        found.setdefault(key, (value, f"{csv}: line {line}"))
    return [found.get(os.path.realpath(p), ("", f"{csv}: no line for image {p}")) for p in filepaths]


def _check_truth(value: str, classes: tuple[str, ...]) -> str:
    if value not in classes:
        raise DataError(f"{value!r} is not one of the classes {list(classes)}")
    return value


def _checked(values: list[tuple[str, str]],
             check: Callable[[str], object]) -> tuple[list[str | None], list[tuple[int, str, str]]]:
    """Keep each value that passes `check`; problems are (row, origin, what is wrong)."""
    kept, problems = [], []
    for row, (value, origin) in enumerate(values):
        try:
            if not value:
                raise DataError("missing")
            check(value)
            kept.append(value)
        except DataError as error:
            kept.append(None)
            problems.append((row, origin, str(error)))
    return kept, problems


def _report(problems: list[tuple[int, str, str]], filepaths: pd.Series, skip_bad: bool,
            what: str) -> pd.DataFrame:
    if problems and not skip_bad:
        _, origin, message = problems[0]
        raise DataError(f"{origin}: {what}: {message}; fix it, or pass --skip-bad to leave that "
                        f"{what} out")
    return skipped_rows([filepaths.iloc[row] for row, _, _ in problems],
                        [f"{what}: {message}" for _, _, message in problems])
