"""`curator train`: start or resume a run, epoch by epoch, writing the run directory as it goes.

Determinism: every epoch reseeds torch (model dropout, augmentation, worker seeds) and the data
order from (seed, epoch), so a resumed CPU run reproduces the uninterrupted one record for record.
Crash safety: per epoch, records -> metrics -> last.pt -> run.json, each written atomically;
`last.pt` says how far the run got, and anything after it is redone on resume.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import torch
from torch.utils.data import DataLoader

from curator import runlog
from curator.config import TrainConfig
from curator.data.dataset import EpochBatches, ImageDataset, make_transform
from curator.data.manifest import Manifest
from curator.errors import RunError
from curator.scn.model import build_model
from curator.train import checkpoint
from curator.train.epoch import Margin, predict_probs, train_epoch
from curator.train.summary import epoch_metrics

# Options that may change when a run is resumed (they do not change what is computed on CPU).
RESUMABLE_CHANGES = ("epochs", "device", "workers")


class Reporter(Protocol):
    """What the trainer tells its user; the CLI passes a rich implementation."""

    def note(self, text: str) -> None: ...
    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None: ...
    def advance(self) -> None: ...
    def end_epoch(self, metrics: dict) -> None: ...


class SilentReporter:
    """A Reporter that says nothing (tests, benchmarks)."""

    def note(self, text: str) -> None: ...
    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None: ...
    def advance(self) -> None: ...
    def end_epoch(self, metrics: dict) -> None: ...


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    return torch.device(name)


def train(config: TrainConfig, run_dir: Path, *, reporter: Reporter | None = None) -> Path:
    """Start a new run in `run_dir` (new or empty) and train it to `config.epochs`."""
    from curator.data.training_set import load_training_set

    reporter = reporter or SilentReporter()
    run_dir = Path(run_dir)
    if (run_dir / runlog.CONFIG).exists():
        raise RunError(f"--out {run_dir} already holds a run; add --resume to continue it, or "
                       "choose another --out")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"--out {run_dir} is a non-empty folder; choose a new or empty folder")
    manifest, notes = load_training_set(config, run_dir)
    runlog.create(run_dir, config, manifest)
    for line in notes:
        reporter.note(line)
    Trainer(config, run_dir, manifest, reporter).fit(resume=False)
    return run_dir


def resume(run_dir: Path, overrides: dict | None = None, *, reporter: Reporter | None = None) -> Path:
    """Continue a run from its last checkpoint; `overrides` may only change RESUMABLE_CHANGES
    (e.g. more epochs); any other option that differs from config.json is refused."""
    run_dir = runlog.require_run(run_dir)
    saved = runlog.read_config(run_dir)
    overrides = {k: v for k, v in (overrides or {}).items() if k != "data"}
    changed = {k: (getattr(saved, k), v) for k, v in overrides.items()
               if k not in RESUMABLE_CHANGES and getattr(saved, k) != v}
    if changed:
        listing = ", ".join(f"--{k.replace('_', '-')} {new!r} (the run has {old!r})"
                            for k, (old, new) in sorted(changed.items()))
        raise RunError(f"--resume {run_dir}: {listing} differ from the run's config.json; drop "
                       "them to continue with the saved config, or start a new --out")
    config = TrainConfig.from_dict({**saved.to_dict(), **overrides})
    config.save(run_dir / runlog.CONFIG)
    Trainer(config, run_dir, runlog.read_manifest(run_dir), reporter or SilentReporter()).fit(resume=True)
    return run_dir


class Trainer:
    """The epoch loop over one run directory."""

    def __init__(self, config: TrainConfig, run_dir: Path, manifest: Manifest, reporter: Reporter):
        self.config, self.run_dir, self.reporter = config, run_dir, reporter
        self.device = resolve_device(config.device)
        self.train_rows = manifest.table[manifest.table["split"] == "train"]
        self.sample_ids = self.train_rows["sample_id"].to_numpy()
        self.given = manifest.label_indices().to_numpy()[self.sample_ids]
        self.labels = self.given.copy()
        self.val_rows = _validation_rows(manifest)
        self.val_labels = manifest.label_indices().to_numpy()[self.val_rows["sample_id"].to_numpy()]
        torch.manual_seed(config.seed)  # the initial weights
        self.model, weights_note = build_model(config, len(manifest.classes))
        self.model.to(self.device)
        if self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        self.margin = Margin(config.margin_1, config.learn_margin).to(self.device)
        params = list(self.model.parameters()) + ([self.margin.value] if config.learn_margin else [])
        self.optimizer = _optimizer(config, params)
        self.scheduler = _scheduler(config, self.optimizer)
        use_scaler = self.device.type == "cuda" and config.amp and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self.best_accuracy = -1.0
        reporter.note(f"{len(self.sample_ids)} training samples, {len(self.val_rows)} validation, "
                      f"{len(manifest.classes)} classes; {weights_note}; device {self.device}")

    def fit(self, *, resume: bool) -> None:
        start = self._restore() + 1 if resume else 1
        runlog.write_info(self.run_dir, state="training")
        for epoch in range(start, self.config.epochs + 1):
            self._epoch(epoch)
        runlog.write_info(self.run_dir, state="finished")

    def _epoch(self, epoch: int) -> None:
        config = self.config
        torch.manual_seed(config.seed * 100_003 + epoch)
        order = torch.Generator().manual_seed(config.seed * 100_019 + epoch)
        loader = self._loader(self.train_rows, train=True, generator=order)
        self.reporter.start_epoch(epoch, config.epochs, len(loader))
        started = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        records, stats = train_epoch(self.model, self.margin, loader, self.labels, epoch, config,
                                     self.optimizer, self.device, self.scaler, self.reporter.advance)
        self.scheduler.step()
        val_accuracy = self._validate()
        runlog.write_epoch(self.run_dir, epoch, {
            "sample_id": self.sample_ids, "given_label": self.given,
            "current_label": records.current_label, "weight": records.weight, "high": records.high,
            "pred_label": records.pred_label, "proposed_label": records.proposed_label,
            "probs": records.probs})
        metrics = epoch_metrics(epoch, records, stats, lr=lr, val_accuracy=val_accuracy,
                                margin_1=float(self.margin()), seconds=time.perf_counter() - started)
        runlog.write_metrics(self.run_dir, metrics)
        score = metrics["val_acc"] if val_accuracy is not None else metrics["train_acc"]
        if score > self.best_accuracy:
            self.best_accuracy = score
            checkpoint.save(self.run_dir, "best", {"model": self.model.state_dict(), "epoch": epoch,
                                                   "accuracy": score})
        checkpoint.save(self.run_dir, "last", self._state(epoch))
        runlog.write_info(self.run_dir, epochs_done=epoch)
        self.reporter.end_epoch(metrics)

    def _state(self, epoch: int) -> dict:
        return {"epoch": epoch, "model": self.model.state_dict(), "margin": self.margin.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else None,
                "labels": self.labels.copy(), "best_accuracy": self.best_accuracy}

    def _restore(self) -> int:
        state = checkpoint.load_state(self.run_dir, "last")
        where = checkpoint.checkpoint_path(self.run_dir, "last")
        checkpoint.restore(self.model, state["model"], where)
        checkpoint.restore(self.margin, state["margin"], where)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.labels[:] = state["labels"]
        self.best_accuracy = state["best_accuracy"]
        done = int(state["epoch"])
        for epoch in runlog.completed_epochs(self.run_dir):
            if epoch > done:  # recorded, but its checkpoint never landed: redo it
                runlog.epoch_path(self.run_dir, epoch).unlink()
        self.reporter.note(f"resuming after epoch {done}")
        return done

    def _validate(self) -> float | None:
        if not len(self.val_rows):
            return None
        probs = predict_probs(self.model, self._loader(self.val_rows, train=False), self.device,
                              amp=self.config.amp)
        return float((probs.argmax(axis=1) == self.val_labels).mean())

    def _loader(self, rows, *, train: bool, generator: torch.Generator | None = None) -> DataLoader:
        config = self.config
        dataset = ImageDataset(rows["filepath"].tolist(), make_transform(config.image_size, train=train))
        if train:
            batches = EpochBatches(len(dataset), config.batch_size, generator)
            return DataLoader(dataset, batch_sampler=batches, num_workers=config.workers,
                              pin_memory=self.device.type == "cuda", generator=generator)
        return DataLoader(dataset, batch_size=config.batch_size, num_workers=config.workers,
                          pin_memory=self.device.type == "cuda")


def _validation_rows(manifest: Manifest):
    table = manifest.table
    for split in ("val", "test"):
        rows = table[table["split"] == split]
        if len(rows):
            return rows
    return table.iloc[:0]


def _optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), config.lr_decay)
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, config.lr_decay)

