"""What `curator export SOURCE` reads: a run directory, or a review dataset and the run behind it.

SOURCE is a run when it is a folder holding config.json; a name that is not a path is looked up
as a FiftyOne dataset made by `curator review`. FiftyOne is imported only on that second path,
so exporting a run never starts its database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from curator import runlog
from curator.errors import RunError


@dataclass(frozen=True)
class Source:
    """A run directory, plus the review dataset its decisions come from (None for a bare run)."""

    run_dir: Path
    dataset: str | None = None


def resolve_source(source: str | Path) -> Source:
    """Decide whether SOURCE names a run directory or a review dataset; RunError if neither."""
    path = Path(source)
    if (path / runlog.CONFIG).is_file():
        return Source(path)
    text = str(source)
    if path.exists() or any(sep in text for sep in (os.sep, os.altsep) if sep):
        raise RunError(f"{text} is not a curator run directory (no {runlog.CONFIG}); give the "
                       "folder `curator train --out` wrote, or a dataset name from `curator review`")
    run_dir = _dataset_run_dir(text)
    if run_dir is None:
        raise RunError(f"{text!r} is neither a run directory nor a FiftyOne dataset; give the "
                       "folder `curator train --out` wrote, or a dataset name from `curator review`")
    return Source(run_dir, dataset=text)


def check_finished(run_dir: Path, *, partial: bool) -> None:
    """Refuse a run that is still training unless `partial` asks for its completed epochs."""
    info = runlog.read_info(run_dir)
    if info.get("state") == "training" and not partial:
        epochs = runlog.read_config(run_dir).epochs
        raise RunError(f"{run_dir} is still training ({info.get('epochs_done', 0)} of {epochs} "
                       "epochs done); wait for it to finish, or add --partial to use the "
                       "completed epochs")


def read_decisions(source: Source) -> pd.DataFrame | None:
    """Review decisions (sample_id, review_status, reviewed_label); None for a bare run."""
    if source.dataset is None:
        return None
    from curator import review  # FiftyOne behind it: imported only for a dataset source

    return review.read_decisions(source.dataset)


def _dataset_run_dir(name: str) -> Path | None:
    """The run directory recorded in a review dataset's info, or None when no such dataset."""
    from curator import review  # FiftyOne behind it: imported only for a dataset source

    return review.run_dir_of(name)
