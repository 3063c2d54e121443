"""`curator export`: a run's (or a review's) label decisions as a cleaned data set.

Output formats: `csv` (one row per sample, columns in `writers.CSV_COLUMNS`, absolute
file paths), `folder` (class-per-folder tree of links, by final label) and `rafdb`
(EmoLabel/list_patition_label.txt + Image/aligned/). Statuses and policies: see `labels`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curator import runlog
from curator.errors import CuratorError
from curator.export.labels import (POLICIES, STATUSES, check_policy, cleaned_labels,
                                   expected_net_gain, label_changes)
from curator.export.source import Source, check_finished, read_decisions, resolve_source
from curator.export.writers import FORMATS, IMAGE_TREES, rafdb_id, write_csv
from curator.outputs import prepare_output
from curator.scores import sample_scores

__all__ = ["FORMATS", "POLICIES", "STATUSES", "Source", "ambiguous_list_path", "cleaned_labels", "export",
           "expected_net_gain", "label_changes", "rafdb_id", "resolve_source"]


def export(source: str | Path, out: Path, *, policy: str = "keep",
           min_confidence: float | None = None, ambiguous: str = "keep", fmt: str = "csv",
           copy: bool = False, force: bool = False, partial: bool = False) -> pd.DataFrame:
    """Write the cleaned data set of SOURCE (run directory or review dataset) to `out`.

    Ambiguous faces keep their label (`keep`), are left out (`drop`), or are kept and also
    listed for re-annotation in `ambiguous_list_path(out)` (`list`). Returns the table written.
    """
    check_policy(policy, min_confidence, ambiguous)
    _check_format(fmt, copy)
    prepare_output(Path(out), force=force, folder=fmt != "csv")
    where = resolve_source(source)
    check_finished(where.run_dir, partial=partial)
    table = cleaned_labels(sample_scores(where.run_dir), runlog.read_manifest(where.run_dir),
                           decisions=read_decisions(where), policy=policy,
                           min_confidence=min_confidence)
    if ambiguous == "drop":
        table = table[table["status"] != "ambiguous"].reset_index(drop=True)
    if fmt == "csv":
        write_csv(table, Path(out))
    else:
        IMAGE_TREES[fmt](table, Path(out), copy=copy)
    if ambiguous == "list":
        faces = table.loc[table["status"] == "ambiguous", ["filepath", "original_label", "ambiguity"]]
        runlog.atomic_write(ambiguous_list_path(Path(out), fmt),
                            lambda tmp: faces.to_csv(tmp, index=False))
    return table


def ambiguous_list_path(out: Path, fmt: str = "csv") -> Path:
    """Where `--ambiguous list` writes the faces to re-annotate: beside a CSV, inside a tree."""
    return out.with_name(f"{out.stem}.ambiguous.csv") if fmt == "csv" else out / "ambiguous.csv"


def _check_format(fmt: str, copy: bool) -> None:
    if fmt not in FORMATS:
        raise CuratorError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if copy and fmt == "csv":
        raise CuratorError("--copy applies to image trees; add --format folder or rafdb, or "
                           "drop --copy")
