"""From a TrainConfig to the Manifest a new run trains on: import, validation data, truth, noise, checks.

Order matters: truth is attached before noise is injected (injected noise makes its own truth),
and image checks run last so `--skip-bad` drops rows from the final table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curator.calibration import MIN_CALIBRATION_SAMPLES
from curator.config import TrainConfig
from curator.data.importers import check_images, import_data, load_manifest
from curator.data.manifest import Manifest, build, require_trainable, validation_rows
from curator.data.truth import attach_truth
from curator.errors import DataError
from curator.noise import inject_noise, share_count

# The holdout draw has its own random stream, so it never lines up with the noise draw.
HOLDOUT_STREAM = 7
# The share held out when `--holdout` is not given and no validation split can calibrate instead.
DEFAULT_HOLDOUT = 0.1


def load_training_set(config: TrainConfig) -> tuple[Manifest, list[str], pd.DataFrame]:
    """The manifest for a new run, lines worth telling the user, and the unreadable images
    skipped with --skip-bad (for the run's bad_images.csv)."""
    imported = import_data(config.data, format=config.data_format, label_column=config.label_column,
                           skip_bad=config.skip_bad)
    manifest = imported.manifest
    notes = [f"{config.data}: {imported.summary()}"] if imported.summary() else []
    if config.truth or config.truth_column or config.votes_column:
        data_csv = Path(config.data) if Path(config.data).is_file() else None
        manifest, skipped = attach_truth(manifest, truth_csv=config.truth,
                                         truth_column=config.truth_column,
                                         votes_column=config.votes_column, data_csv=data_csv,
                                         skip_bad=config.skip_bad)
        if len(skipped):
            notes.append(f"{len(skipped)} row(s) have no usable truth/votes and count as unknown")
    if config.val_data:
        manifest = _with_validation(manifest, config)
    if config.inject_noise:
        manifest = inject_noise(manifest, config.inject_noise, seed=config.seed)
        flipped = int((manifest.table["truth"] != manifest.table["label"]).sum())
        notes.append(f"injected noise: {flipped} training labels flipped ({config.inject_noise:.0%} "
                     f"per class, seed {config.seed}); the truth is kept in the run")
    manifest, bad = check_images(manifest, skip_bad=config.skip_bad)
    share = holdout_share(config.holdout, manifest)
    if share:
        manifest = hold_out(manifest, share, seed=config.seed)
    require_trainable(manifest)
    return manifest, notes, bad


def holdout_share(requested: float | None, manifest: Manifest) -> float:
    """`--holdout` if given; by default none when the validation rows are enough to calibrate on
    (they are predicted every epoch anyway, so every training sample stays in training), else
    DEFAULT_HOLDOUT."""
    if requested is not None:
        return requested
    return 0.0 if len(validation_rows(manifest)) >= MIN_CALIBRATION_SAMPLES else DEFAULT_HOLDOUT


def hold_out(manifest: Manifest, share: float, *, seed: int) -> Manifest:
    """Move round(share x n) of each class's n training rows (at least one stays) to split
    `holdout`: never trained on, predicted every epoch, the part that calibrates `confidence`."""
    table = manifest.table
    rng = np.random.default_rng([seed, HOLDOUT_STREAM])
    labels = manifest.label_indices().to_numpy()
    train = (table["split"] == "train").to_numpy()
    split = table["split"].to_numpy(dtype=object).copy()
    for label in range(len(manifest.classes)):
        members = np.flatnonzero(train & (labels == label))
        count = min(share_count(share, len(members)), len(members) - 1)
        split[rng.choice(members, size=max(count, 0), replace=False)] = "holdout"
    return Manifest(table.assign(split=split), manifest.classes, manifest.source)


def _with_validation(manifest: Manifest, config: TrainConfig) -> Manifest:
    val = load_manifest(config.val_data, format="auto", label_column=config.label_column,
                        skip_bad=config.skip_bad)
    unknown = sorted(set(val.table["label"]) - set(manifest.classes))
    if unknown:
        raise DataError(f"--val {config.val_data}: label(s) {unknown} are not in the training "
                        f"classes {list(manifest.classes)}")
    rows = pd.concat([manifest.table.drop(columns="sample_id"),
                      val.table.drop(columns="sample_id").assign(split="val")], ignore_index=True)
    return build(rows, manifest.classes, manifest.source)
