"""`curator evaluate RUN_DIR --data TEST`: how well a run's model classifies labelled test faces.

The test data may be in any importer format. Its labels are matched to the run's classes by
their canonical names (`curator.emotions`), so a RAF-DB test set's `happiness` counts as a run's
`happy`; a test label with no match is an error. Without `split`, the data's test split is used
when it has one, otherwise every image. Images go through the run's evaluation transform.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader

from curator import metrics, plots, runlog
from curator.data.dataset import ImageDataset, make_transform
from curator.data.importers import load_manifest
from curator.emotions import canonical
from curator.errors import CuratorError, DataError
from curator.outputs import prepare_output, write_folder_atomically
from curator.train.checkpoint import load_model
from curator.train.epoch import predict
from curator.train.trainer import resolve_device

SPLITS = ("auto", "all", "train", "val", "test")
CHECKPOINTS = ("best", "last")


@dataclass(frozen=True)
class Evaluation:
    """Predictions of a run's model on test data, summarised as a confusion matrix."""

    classes: tuple[str, ...]
    confusion: np.ndarray  # (classes, classes): rows = true label, columns = prediction
    split: str  # which rows of the data were used

    @property
    def samples(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.samples, 1))

    @property
    def per_class_accuracy(self) -> np.ndarray:
        return metrics.per_class_accuracy(self.confusion)

    def to_dict(self) -> dict:
        """JSON-ready numbers (NaN accuracy of an absent class becomes null)."""
        per_class = [None if np.isnan(a) else float(a) for a in self.per_class_accuracy]
        return {"split": self.split, "samples": self.samples, "accuracy": self.accuracy,
                "classes": list(self.classes), "per_class_accuracy": dict(zip(self.classes, per_class)),
                "class_samples": dict(zip(self.classes, self.confusion.sum(axis=1).tolist())),
                "confusion": self.confusion.tolist()}


def evaluate(run_dir: Path, data: Path | str, *, data_format: str = "auto",
             label_column: str = "label", split: str = "auto", checkpoint: str = "best",
             device: str = "auto", batch_size: int = 128, workers: int = 0,
             skip_bad: bool = False, out: Path | None = None, force: bool = False) -> Evaluation:
    """Classify the labelled images of `data` with the run's `checkpoint` model.

    With `out`, also write OUT/evaluation.json (the numbers) and OUT/confusion.png.
    """
    if out is not None:
        prepare_output(Path(out), force=force, folder=True)
    if split not in SPLITS:
        raise CuratorError(f"unknown --split {split!r}; choose one of: {', '.join(SPLITS)}")
    if checkpoint not in CHECKPOINTS:
        raise CuratorError(f"unknown --checkpoint {checkpoint!r}; choose one of: {', '.join(CHECKPOINTS)}")
    if batch_size < 1:
        raise CuratorError(f"--batch-size must be at least 1, got {batch_size}")
    run_dir = runlog.require_run(run_dir)
    model, config, classes = load_model(run_dir, checkpoint)
    table = load_manifest(data, format=data_format, label_column=label_column,
                          skip_bad=skip_bad).table
    rows, used = _rows(table, split, data)
    truth = _class_indices(rows["label"], classes, data)
    torch_device = resolve_device(device)
    dataset = ImageDataset(rows["filepath"].tolist(), make_transform(config.image_size, train=False))
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    probs, _ = predict(model.to(torch_device), loader, torch_device, amp=config.amp)
    evaluation = Evaluation(classes, metrics.confusion_matrix(truth, probs.argmax(axis=1),
                                                              len(classes)), used)
    if out is not None:
        _write(evaluation, Path(out))
    return evaluation


def _write(evaluation: Evaluation, out: Path) -> None:
    figure = plots.confusion(evaluation.confusion, evaluation.classes, evaluation.classes,
                             row_title="true label", column_title="predicted label",
                             title=f"Test confusion (accuracy {evaluation.accuracy:.3f})")
    png = plots.png_bytes(figure)

    def build(folder: Path) -> None:
        (folder / "evaluation.json").write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n")
        (folder / "confusion.png").write_bytes(png)

    write_folder_atomically(out, build, written_by="curator evaluate")


def _rows(table: pd.DataFrame, split: str, data: Path | str) -> tuple[pd.DataFrame, str]:
    if split == "auto":
        split = "test" if (table["split"] == "test").any() else "all"
    rows = table if split == "all" else table[table["split"] == split]
    if rows.empty:
        raise DataError(f"{data}: no images in the {split} split; pick another --split "
                        f"(the data has {', '.join(sorted(table['split'].unique()))})")
    return rows, split


def _class_indices(labels: pd.Series, classes: tuple[str, ...], data: Path | str) -> np.ndarray:
    index = {canonical(name): i for i, name in enumerate(classes)}
    keys = labels.map(canonical)
    unknown = sorted(set(labels[~keys.isin(list(index))]))
    if unknown:
        raise DataError(f"{data}: label(s) {unknown} match none of the run's classes "
                        f"{list(classes)}; relabel the test data or pass --label-column")
    return keys.map(index).to_numpy(np.int64)
