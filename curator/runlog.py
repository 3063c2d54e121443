"""The run directory: the one on-disk format that `curator train` writes and every other command reads.

```
RUN_DIR/
  config.json               every TrainConfig option (see curator.config)
  run.json                  classes, state (training|finished), epochs done, curator version
  manifest.parquet          the Manifest table (sample_id, filepath, label, split[, truth, votes])
  metrics.csv               one row per epoch (loss, accuracy, relabels, weight spread, ...,
                            collapsed, weights_vanished: see curator.train.summary)
  records/epoch_0001.parquet  one row per training sample for epoch 1, and so on
  records/holdout_0001.parquet  one row per held-out sample (split `holdout`, validation) for epoch 1, ...
  checkpoints/last.pt       model, optimiser, scheduler and label table after the last epoch
  checkpoints/best.pt       the model with the best validation (or training) accuracy
  bad_images.csv            images skipped with --skip-bad (filepath, reason)
```

A record file holds, for every training sample, what happened to it in the *training pass* of
that epoch: `sample_id` (int32), `given_label` and `current_label` (int16 class indices; current =
the label trained on this epoch, after earlier relabels), `weight` (float32, SCN importance
weight alpha), `high` (bool, high-importance group in its mini-batch), `pred_label` (int16),
`proposed_label` (int16, SCN's relabel rule, -1 for none; applied from `relabel_epoch` on) and
`prob_0..prob_{K-1}` (float16, softmax of the classifier logits before the attention weighting).
A holdout file holds the same for the run's held-out part, never trained on: the samples of split
`holdout` (`--holdout`) and the validation rows (split `val`, or `test` where there is no `val`),
predicted after the epoch's training in evaluation mode: `sample_id`, `given_label`, `weight`,
`pred_label` and `prob_*`. `curator.scores` calibrates proposal confidence on all of them and
scores the `holdout` samples. It is written before the epoch's record file, so every completed
epoch has it (when the run holds anything out).
Every file is written atomically (temp file + rename), so a crash never leaves a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from curator import __version__
from curator.config import TrainConfig
from curator.data.manifest import Manifest
from curator.errors import RunError

CONFIG = "config.json"
RUN_INFO = "run.json"
MANIFEST = "manifest.parquet"
METRICS = "metrics.csv"
RECORDS = "records"
CHECKPOINTS = "checkpoints"
BAD_IMAGES = "bad_images.csv"
NO_LABEL = -1
_UMASK = os.umask(0)
os.umask(_UMASK)


# ---------------------------------------------------------------- atomic writes
def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call `write(tmp_path)` then rename onto `path`, so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as zstd-compressed Parquet, atomically."""
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd"))


# ---------------------------------------------------------------- writing a run
def create(run_dir: Path, config: TrainConfig, manifest: Manifest) -> None:
    """Lay out a new run directory for `config` and `manifest`."""
    run_dir = Path(run_dir)
    (run_dir / RECORDS).mkdir(parents=True, exist_ok=True)
    (run_dir / CHECKPOINTS).mkdir(exist_ok=True)
    config.save(run_dir / CONFIG)
    atomic_write_parquet(manifest.table, run_dir / MANIFEST)
    write_info(run_dir, classes=list(manifest.classes), state="training", epochs_done=0,
               source=manifest.source)


def write_info(run_dir: Path, **updates: Any) -> None:
    """Update keys of run.json (classes, state, epochs_done, ...)."""
    path = Path(run_dir) / RUN_INFO
    info = json.loads(path.read_text()) if path.exists() else {}
    info.update(updates, curator_version=__version__)
    atomic_write_text(path, json.dumps(info, indent=2) + "\n")


# The stored dtype of every record column (besides the float16 prob_k columns).
RECORD_DTYPES: dict[str, Any] = {
    "sample_id": np.int32, "given_label": np.int16, "current_label": np.int16,
    "weight": np.float32, "high": bool, "pred_label": np.int16, "proposed_label": np.int16,
}
HOLDOUT_COLUMNS = ("sample_id", "given_label", "weight", "pred_label")


def write_epoch(run_dir: Path, epoch: int, records: dict[str, np.ndarray]) -> None:
    """Write one epoch's per-sample records; `records["probs"]` is an (N, K) array."""
    _write_records(epoch_path(run_dir, epoch), records, tuple(RECORD_DTYPES))


def write_holdout(run_dir: Path, epoch: int, records: dict[str, np.ndarray]) -> None:
    """Write one epoch's predictions of the held-out samples (see the module docstring)."""
    _write_records(holdout_path(run_dir, epoch), records, HOLDOUT_COLUMNS)


def _write_records(path: Path, records: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
    columns = {name: np.asarray(records[name], dtype=RECORD_DTYPES[name]) for name in names}
    probs = np.asarray(records["probs"], dtype=np.float16)
    columns.update({f"prob_{k}": probs[:, k] for k in range(probs.shape[1])})
    atomic_write_parquet(pd.DataFrame(columns), path)


def write_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    """Add (or replace) the metrics row of `row["epoch"]`, keeping earlier epochs."""
    path = Path(run_dir) / METRICS
    frame = pd.read_csv(path) if path.exists() else pd.DataFrame()
    if len(frame):
        frame = frame[frame["epoch"] < row["epoch"]]
    frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def epoch_path(run_dir: Path, epoch: int) -> Path:
    """Path of the record file of one epoch (1-based)."""
    return Path(run_dir) / RECORDS / f"epoch_{epoch:04d}.parquet"


def holdout_path(run_dir: Path, epoch: int) -> Path:
    """Path of the holdout prediction file of one epoch (1-based)."""
    return Path(run_dir) / RECORDS / f"holdout_{epoch:04d}.parquet"


# ---------------------------------------------------------------- reading a run
def require_run(run_dir: Path) -> Path:
    """Return `run_dir` as a Path, or raise RunError if it is not a curator run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file() or not (run_dir / RUN_INFO).is_file():
        raise RunError(f"{run_dir} is not a curator run directory (no {CONFIG}/{RUN_INFO}); "
                       "create one with `curator train DATA --out RUN_DIR`")
    return run_dir


def read_config(run_dir: Path) -> TrainConfig:
    """The TrainConfig the run was started with."""
    return TrainConfig.load(require_run(run_dir) / CONFIG)


def read_info(run_dir: Path) -> dict[str, Any]:
    """run.json: classes, state, epochs_done, source, curator_version."""
    return json.loads((require_run(run_dir) / RUN_INFO).read_text())


def read_manifest(run_dir: Path) -> Manifest:
    """The Manifest the run trained on (labels as given, after any injected noise)."""
    run_dir = require_run(run_dir)
    info = read_info(run_dir)
    return Manifest(pd.read_parquet(run_dir / MANIFEST), tuple(info["classes"]), info.get("source", ""))


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv as a DataFrame (empty when no epoch has finished)."""
    path = require_run(run_dir) / METRICS
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def epoch_files(run_dir: Path) -> list[Path]:
    """Every per-epoch file of the run (records and holdout predictions)."""
    folder = require_run(run_dir) / RECORDS
    return sorted(folder.glob("epoch_*.parquet")) + sorted(folder.glob("holdout_*.parquet"))


def epoch_of(path: Path) -> int:
    """The epoch number of a per-epoch file (`epoch_0003.parquet`, `holdout_0003.parquet`: 3)."""
    return int(Path(path).stem.split("_")[1])


def completed_epochs(run_dir: Path) -> list[int]:
    """Epoch numbers whose record file exists, ascending."""
    files = sorted((require_run(run_dir) / RECORDS).glob("epoch_*.parquet"))
    return [epoch_of(f) for f in files]


def read_raw_epoch(run_dir: Path, epoch: int) -> pd.DataFrame:
    """One record file exactly as stored (integer labels, prob_k columns)."""
    path = epoch_path(run_dir, epoch)
    if not path.exists():
        raise RunError(f"{run_dir}: epoch {epoch} has no records ({path.name} missing)")
    return pd.read_parquet(path)


def read_holdout(run_dir: Path, epoch: int) -> pd.DataFrame | None:
    """One holdout file as stored, or None when the run holds nothing out."""
    path = holdout_path(run_dir, epoch)
    return pd.read_parquet(path) if path.exists() else None


def read_epochs(run_dir: Path, epochs: list[int] | None = None) -> pd.DataFrame:
    """Every per-sample, per-epoch record as one DataFrame, labels as class names.

    Columns: epoch, sample_id, filepath, given_label, current_label, weight, group (high|low),
    prob_given, prob_current, pred_label, pred_prob, proposed_label (missing where none).
    """
    run_dir = require_run(run_dir)
    epochs = _epochs_or_all(run_dir, epochs)
    manifest = read_manifest(run_dir)
    names = pd.Categorical.from_codes  # codes -1 become missing values
    categories = list(manifest.classes)
    filepaths = manifest.table.set_index("sample_id")["filepath"]
    frames = []
    for epoch in epochs:
        raw = read_raw_epoch(run_dir, epoch)
        probs = raw[[f"prob_{k}" for k in range(len(categories))]].to_numpy(np.float32)
        rows = np.arange(len(raw))
        frames.append(pd.DataFrame({
            "epoch": np.full(len(raw), epoch, dtype=np.int32),
            "sample_id": raw["sample_id"].to_numpy(),
            "filepath": filepaths.loc[raw["sample_id"]].to_numpy(),
            "given_label": names(raw["given_label"], categories),
            "current_label": names(raw["current_label"], categories),
            "weight": raw["weight"].to_numpy(),
            "group": pd.Categorical(np.where(raw["high"], "high", "low"), ["high", "low"]),
            "prob_given": probs[rows, raw["given_label"]],
            "prob_current": probs[rows, raw["current_label"]],
            "pred_label": names(raw["pred_label"], categories),
            "pred_prob": probs[rows, raw["pred_label"]],
            "proposed_label": names(raw["proposed_label"], categories),
        }))
    return pd.concat(frames, ignore_index=True)


def _epochs_or_all(run_dir: Path, epochs: list[int] | None) -> list[int]:
    epochs = completed_epochs(run_dir) if epochs is None else list(epochs)
    if not epochs:
        raise RunError(f"{run_dir}: no epoch has finished yet; wait for `curator train` to record one")
    return epochs
