"""The compared methods of the detection benchmark: train (or reuse) their runs and score them.

Every method yields a `Detection` over the training samples of one replicate: a ranking score
(higher = the given label is more likely wrong), the flagged set and the proposed labels.

- `curator`: SCN run, scored by `curator.scores.sample_scores` (`suspicion`, `proposed_label`).
- `ce`: plain cross-entropy run; ranked by the final epoch's in-sample loss -log p(given),
  proposals = the argmax of that training pass where it differs from the given label.
- `cleanlab`: `find_label_issues` on K-fold out-of-sample probabilities of K plain-CE models,
  ranked by 1 - `get_label_quality_scores`; proposals = the out-of-sample argmax of flagged rows.
- `aum`: the plain cross-entropy run ranked by the Area Under the Margin (Pleiss et al. 2020:
  mean over all epochs of p(given) - max p(other)); the k lowest-margin samples (k = the number
  of wrong labels: an oracle k, in the baseline's favour) get the best other class by mean
  probability over the last 5 epochs.
- `curator-on-ce`: a diagnostic, `sample_scores` applied to the plain-CE run (no extra training):
  tells how much of curator's result comes from SCN training and how much from the scoring.

Runs are cached in `runs_dir` under a name holding a hash of their TrainConfig's training options
(`training_dict`), so changing curator's scoring modules or a scoring option and scoring again never
retrains; a training that stopped with a `TrainingError` is cached as failed and fails again.
The trap: cleanlab's K models cost about K-1 times the others' training, so its wall time is
reported, not folded into the budget.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader

from curator import runlog
from curator.config import SCORING_OPTIONS, TrainConfig
from curator.data.dataset import ImageDataset, make_transform
from curator.errors import RunError, TrainingError
from curator.scores import sample_scores
from curator.suspicion import best_other_class, given_and_best_other
from curator.train.checkpoint import load_model
from curator.train import epoch
from curator.train.run import resume, train
from curator.train.trainer import resolve_device
from detect_data import Replicate, fold_csvs

METHODS = ("curator", "ce", "aum", "cleanlab", "curator-on-ce")
PAPER_EPOCHS = 40  # the paper recipe's milestones (15, 30) are scaled from its 40 epochs


@dataclass(frozen=True)
class Budget:
    """What every method gets: backbone, image size, epochs x images, optimiser, device."""

    backbone: str = "compact"
    pretrained: bool = False  # the backbone's published weights (those that load offline here)
    weights: str | None = None  # or a local weights file
    image_size: int = 32
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    relabel_epoch: int | None = None  # None: half the epochs
    scn_options: tuple[tuple[str, object], ...] = ()  # extra TrainConfig options, SCN runs only
    folds: int = 5
    device: str = "auto"
    workers: int = 0

    def config(self, data: Path, *, method: str, seed: int, val: Path | None = None) -> TrainConfig:
        """The TrainConfig of one run on `data` (a CSV with a truth column), validated on `val`."""
        milestones = [round(m * self.epochs / PAPER_EPOCHS) for m in (15, 30)]
        # baselines train on every sample; curator holds out what its defaults hold out; the
        # scoring options also score the plain-CE run for `curator-on-ce`
        extra = (dict(self.scn_options) if method == "scn" else
                 {"holdout": 0.0, **{k: v for k, v in self.scn_options if k in SCORING_OPTIONS}})
        options = dict(
            data=str(data), val_data=str(val) if val else None, truth_column="truth",
            method=method, seed=seed,
            backbone=self.backbone, pretrained=self.pretrained, weights=self.weights,
            image_size=self.image_size,
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
            milestones=[m for m in milestones if 0 < m < self.epochs],
            relabel_epoch=self.relabel_epoch or max(1, self.epochs // 2), device=self.device,
            workers=self.workers)
        return TrainConfig.from_recipe("paper", **{**options, **extra})  # extra options win


@dataclass(frozen=True)
class Detection:
    """One method's verdict on one replicate's training samples (class indices, -1 = none)."""

    method: str
    suspicion: np.ndarray
    flagged: np.ndarray
    proposed: np.ndarray
    given: np.ndarray
    truth: np.ndarray
    train_seconds: float  # training wall time (summed over cleanlab's K models)
    score_seconds: float
    test_accuracy: float  # of the run's final model on the clean test split; NaN for cleanlab
    filepaths: np.ndarray | None = None  # curator only: to look up annotator votes
    ambiguity: np.ndarray | None = None  # curator only
    confidence: np.ndarray | None = None  # curator only: of each proposal (NaN where none)
    late_rise: float = float("nan")  # curator under --proposal-rule auto: `proposals.late_rise`


class Runs:
    """Trained runs under one cache folder; `train_allowed=False` (--rescore) only reuses them."""

    def __init__(self, runs_dir: Path, *, train_allowed: bool, say=print) -> None:
        self.runs_dir, self.train_allowed, self.say = Path(runs_dir), train_allowed, say

    def get(self, config: TrainConfig, label: str) -> tuple[Path, float]:
        """A finished run of `config` (trained, resumed or reused) and its training seconds."""
        # options at their defaults stay out of the key, so a new option keeps old caches valid
        defaults = TrainConfig().training_dict()
        text = json.dumps({k: v for k, v in config.training_dict().items() if v != defaults[k]},
                          sort_keys=True)
        run_dir = self.runs_dir / f"{label}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"
        timing = run_dir.parent / f"{run_dir.name}.json"
        if timing.exists():
            done = json.loads(timing.read_text())
            if "failed" in done:  # a training that stopped for good fails again without retraining
                raise TrainingError(done["failed"])
            return run_dir, done["train_seconds"]
        if not self.train_allowed:
            raise RunError(f"--rescore: no finished run {run_dir}; run once without --rescore to "
                           "train it (same data, budget and seeds)")
        started = time.perf_counter()
        earlier = 0.0
        try:
            if (run_dir / runlog.CONFIG).exists():
                self.say(f"resuming {run_dir.name}")
                metrics = runlog.read_metrics(run_dir)
                earlier = float(metrics["seconds"].sum()) if len(metrics) else 0.0
                resume(run_dir)
            else:
                self.say(f"training {run_dir.name}")
                train(config, run_dir)
        except TrainingError as error:
            runlog.atomic_write_text(timing, json.dumps({"failed": str(error)}) + "\n")
            raise
        seconds = earlier + time.perf_counter() - started
        runlog.atomic_write_text(timing, json.dumps({"train_seconds": seconds}) + "\n")
        self.say(f"  {run_dir.name}: {seconds:.0f} s")
        return run_dir, seconds


def detect(method: str, replicate: Replicate, budget: Budget, runs: Runs) -> Detection:
    """Train (or reuse) what `method` needs on `replicate` and return its verdict."""
    tag = f"n{replicate.noise_level}-s{replicate.seed}"
    if method == "cleanlab":
        return _cleanlab(replicate, budget, runs, tag)
    trainer = "scn" if method == "curator" else "ce"
    # curator calibrates on the test images labelled like its training set (a user's validation
    # split); the baselines need no validation data
    val = replicate.val_csv if trainer == "scn" else None
    config = budget.config(replicate.train_csv, method=trainer, seed=replicate.seed, val=val)
    run_dir, train_seconds = runs.get(config, f"{trainer}-{tag}")
    started = time.perf_counter()
    extra = {}
    if method in ("curator", "curator-on-ce"):
        # a reused run may have been scored otherwise
        scores = sample_scores(run_dir, window=config.proposal_window, rule=config.proposal_rule)
        suspicion, proposed = scores["suspicion"].to_numpy(np.float64), _codes(scores["proposed_label"])
        given, truth = _codes(scores["given_label"]), _codes(scores["truth"])
        extra = {"filepaths": scores["filepath"].to_numpy(),
                 "ambiguity": scores["ambiguity"].to_numpy(np.float64),
                 "confidence": scores["confidence"].to_numpy(np.float64)}
        if scores.attrs["late_rise"] is not None:
            extra["late_rise"] = scores.attrs["late_rise"]
    else:
        scored = _scored_by_margin if method == "aum" else _scored_by_loss
        suspicion, proposed, given, truth = scored(run_dir)
    accuracy = clean_test_accuracy(run_dir, replicate.test_csv)
    return Detection(method, suspicion, proposed >= 0, proposed, given, truth, train_seconds,
                     time.perf_counter() - started, accuracy, **extra)


def predict(run_dir: Path, filepaths: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class probabilities of the run's final model on images, and its class list."""
    model, config, classes = load_model(run_dir, "last")
    device = resolve_device(config.device)
    dataset = ImageDataset(filepaths, make_transform(config.image_size, train=False))
    loader = DataLoader(dataset, batch_size=256, num_workers=config.workers)
    return epoch.predict(model.to(device), loader, device, amp=config.amp)[0], classes


def clean_test_accuracy(run_dir: Path, test_csv: Path) -> float:
    """Accuracy of the run's final model on the clean test split."""
    test = pd.read_csv(test_csv, dtype=str, keep_default_na=False)
    probs, classes = predict(run_dir, test["filepath"].tolist())
    return float((np.asarray(classes)[probs.argmax(axis=1)] == test["label"].to_numpy()).mean())


def _scored_by_loss(run_dir: Path) -> tuple[np.ndarray, ...]:
    last = runlog.completed_epochs(run_dir)[-1]
    raw = runlog.read_raw_epoch(run_dir, last).sort_values("sample_id")
    probs = raw[[c for c in raw.columns if c.startswith("prob_")]].to_numpy(np.float64)
    given = raw["given_label"].to_numpy(np.int64)
    loss = -np.log(np.maximum(probs[np.arange(len(given)), given], 1e-12))
    predicted = probs.argmax(axis=1)
    truth = _truth(run_dir, raw["sample_id"].to_numpy())
    return loss, np.where(predicted != given, predicted, runlog.NO_LABEL), given, truth


def training_records(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(probs (E, N, K), SCN weights (E, N), given (N,), truth (N,), -1 where unknown) of a run's
    training samples."""
    raws = [runlog.read_raw_epoch(run_dir, e).sort_values("sample_id")
            for e in runlog.completed_epochs(run_dir)]
    if not raws:
        raise RunError(f"{run_dir}: no epoch has finished yet")
    columns = [c for c in raws[0].columns if c.startswith("prob_")]
    probs = np.stack([r[columns].to_numpy(np.float64) for r in raws])
    weights = np.stack([r["weight"].to_numpy(np.float32) for r in raws])
    given = raws[-1]["given_label"].to_numpy(np.int64)
    return probs, weights, given, _truth(run_dir, raws[-1]["sample_id"].to_numpy())


def _scored_by_margin(run_dir: Path) -> tuple[np.ndarray, ...]:
    probs, weights, given, truth = training_records(run_dir)
    given_mean, other_mean = given_and_best_other(probs, given, weights)  # plain CE: all 1
    margin = given_mean - other_mean  # the Area Under the Margin
    k = int(((given != truth) & (truth >= 0)).sum())
    recent = best_other_class(probs[-5:].mean(axis=0), given)
    top = np.argsort(margin, kind="stable")[:k]
    proposed = np.full(len(given), runlog.NO_LABEL)
    proposed[top] = recent[top]
    return -margin, proposed, given, truth


def _cleanlab(replicate: Replicate, budget: Budget, runs: Runs, tag: str) -> Detection:
    from cleanlab.filter import find_label_issues  # AGPL: a benchmark-only comparison
    from cleanlab.rank import get_label_quality_scores

    table = pd.read_csv(replicate.train_csv, dtype=str, keep_default_na=False)
    classes = sorted(set(table["label"]) | set(table["truth"]))
    index = {name: i for i, name in enumerate(classes)}
    pred_probs = np.zeros((len(table), len(classes)))
    train_seconds, predict_seconds = 0.0, 0.0
    for k, (fold_csv, held_out) in enumerate(fold_csvs(replicate.train_csv, budget.folds,
                                                       seed=replicate.seed)):
        config = budget.config(fold_csv, method="ce", seed=replicate.seed)
        run_dir, seconds = runs.get(config, f"cleanlab{budget.folds}-{k}-{tag}")
        train_seconds += seconds
        started = time.perf_counter()
        probs, run_classes = predict(run_dir, table["filepath"].iloc[held_out].tolist())
        # a fold model knows only the classes of its training labels: place them by name
        pred_probs[np.ix_(held_out, [index[c] for c in run_classes])] = probs
        predict_seconds += time.perf_counter() - started
    started = time.perf_counter()
    given = table["label"].map(index).to_numpy()
    flagged = find_label_issues(given, pred_probs)
    suspicion = 1.0 - get_label_quality_scores(given, pred_probs)
    predicted = pred_probs.argmax(axis=1)
    proposed = np.where(flagged & (predicted != given), predicted, runlog.NO_LABEL)
    return Detection("cleanlab", suspicion, flagged, proposed, given,
                     table["truth"].map(index).to_numpy(), train_seconds,
                     predict_seconds + time.perf_counter() - started, float("nan"))


def _truth(run_dir: Path, sample_ids: np.ndarray) -> np.ndarray:
    """Truth class indices of the run's samples (-1 where unknown)."""
    return runlog.read_manifest(run_dir).label_indices("truth").to_numpy()[sample_ids]


def _codes(column: pd.Series) -> np.ndarray:
    """Class indices of a categorical column of class names (-1 where missing)."""
    return column.cat.codes.to_numpy(np.int64)
