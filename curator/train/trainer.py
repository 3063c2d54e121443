"""The epoch loop over one run directory (in one of `group.world` processes), and what it reports.

Determinism: every epoch reseeds torch (model dropout, augmentation, worker seeds) and the data
order from (seed, epoch), so a resumed CPU run reproduces the uninterrupted one record for record.
Crash safety: per epoch, records -> metrics -> last.pt -> run.json, each written atomically;
`last.pt` says how far the run got, and anything after it is redone on resume.
Distributed (see curator.train.distributed and docs/DISTRIBUTED.md): `batch_size` is the global
batch, shared out by EpochBatches; the data order is drawn alike on every process, augmentation
per process (seed + rank * RANK_SEED_STRIDE); after each epoch the per-sample records of every
process are combined on every process, relabels are applied to each process's copy of the label
table, and rank 0 alone writes.
Failure: an epoch whose importance weights vanished (curator.train.summary) is written like any
other, then stops every process with a TrainingError, raised by rank 0 and passed to the others.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader

from curator import runlog
from curator.config import TrainConfig
from curator.data.dataset import EpochBatches, ImageDataset, make_transform
from curator.data.manifest import Manifest, validation_rows
from curator.errors import RunError, TrainingError
from curator.scn.model import build_model
from curator.train import checkpoint
from curator.train.distributed import Group, share_buffers
from curator.train.epoch import (EpochRecords, EpochStats, Learner, Margin, apply_relabels,
                                 predict, train_epoch)
from curator.train.summary import VANISHED_WEIGHT, epoch_metrics

# Rank r reseeds augmentation and dropout with the single-process seed + r * RANK_SEED_STRIDE.
RANK_SEED_STRIDE = 1_000_003
# Below this many samples per process and step, the per-process rank regularization gets noisy.
SMALL_LOCAL_BATCH = 32


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


class Trainer:
    """The epoch loop over one run directory, in one of `group.world` processes."""

    def __init__(self, config: TrainConfig, run_dir: Path, manifest: Manifest, reporter: Reporter,
                 group: Group):
        self.config, self.run_dir, self.reporter, self.group = config, run_dir, reporter, group
        self.device = group.device(resolve_device(config.device))
        self.train_rows = manifest.table[manifest.table["split"] == "train"]
        self.sample_ids = self.train_rows["sample_id"].to_numpy()
        self.all_labels = manifest.label_indices().to_numpy()
        self.given = self.all_labels[self.sample_ids]
        self.labels = self.given.copy()
        # the held-out part: never trained on, predicted every epoch (split holdout + validation)
        table = manifest.table
        is_holdout = (table["split"] == "holdout").to_numpy()
        is_val = table["sample_id"].isin(validation_rows(manifest)["sample_id"]).to_numpy()
        held = is_holdout | is_val
        held_rows = table[held]
        self.held_ids = held_rows["sample_id"].to_numpy()
        self.is_val = is_val[held]
        # each process predicts every world-th held-out row
        self.held_loader = self._eval_loader(held_rows.iloc[group.rank::group.world])
        self.num_classes = len(manifest.classes)
        torch.manual_seed(config.seed)  # the initial weights
        model, weights_note = build_model(config, self.num_classes)
        model.to(self.device)
        if self.device.type == "cuda":
            model.to(memory_format=torch.channels_last)
        margin = Margin(config.margin_1, config.learn_margin).to(self.device)
        optimizer = _optimizer(config, param_groups(config, model, margin))
        self.scheduler = _scheduler(config, optimizer)
        use_scaler = self.device.type == "cuda" and config.amp and not torch.cuda.is_bf16_supported()
        self.learner = Learner(model, group.data_parallel(model, self.device), margin, optimizer,
                               torch.amp.GradScaler("cuda") if use_scaler else None, self.device)
        self.best_accuracy = -1.0
        processes = f" x {group.world} processes" if group.world > 1 else ""
        reporter.note(f"{len(self.sample_ids)} training samples, {is_val.sum()} validation + "
                      f"{is_holdout.sum()} held out (they calibrate proposal confidence), "
                      f"{len(manifest.classes)} classes; {weights_note}; device "
                      f"{self.device.type}{processes}")
        if 1 < group.world and config.batch_size // group.world < SMALL_LOCAL_BATCH:
            reporter.note(f"note: --batch-size {config.batch_size} gives each of the {group.world} "
                          f"processes ~{config.batch_size // group.world} samples per step; the "
                          "rank regularization is computed per process and gets noisy below "
                          f"{SMALL_LOCAL_BATCH} (docs/DISTRIBUTED.md)")

    def fit(self, *, resume: bool) -> None:
        start = self._restore() + 1 if resume else 1
        if self.group.is_main:
            runlog.write_info(self.run_dir, state="training")
        for epoch in range(start, self.config.epochs + 1):
            self._epoch(epoch)
        if self.group.is_main:
            runlog.write_info(self.run_dir, state="finished")

    def _epoch(self, epoch: int) -> None:
        config, learner = self.config, self.learner
        seed = config.seed * 100_003 + epoch + RANK_SEED_STRIDE * self.group.rank
        torch.manual_seed(seed)
        loader = self._train_loader(epoch, augmentation=torch.Generator().manual_seed(seed))
        self.reporter.start_epoch(epoch, config.epochs, len(loader))
        started = time.perf_counter()
        lr = learner.optimizer.param_groups[0]["lr"]
        records, stats = train_epoch(learner, loader, self.labels, config, self.reporter.advance)
        records, stats = self._combine(records, stats)
        stats.relabels = apply_relabels(self.labels, records, epoch, config)
        self.scheduler.step()
        share_buffers(learner.network)
        held = self._predict_held()
        # rank 0 writes; the others wait for it, so a TrainingError it raises stops every process
        self.group.on_main(lambda: self._write_epoch(epoch, records, stats, held, lr=lr,
                                                     started=started))

    def _write_epoch(self, epoch: int, records: EpochRecords, stats: EpochStats,
                     held: dict | None, *, lr: float, started: float) -> None:
        """Rank 0: the epoch's records, metrics, checkpoints and run.json, then its summary line;
        raises TrainingError, once all of it is written, if the epoch's weights vanished."""
        learner = self.learner
        val_accuracy = _accuracy(held, self.is_val)
        if held is not None:
            runlog.write_holdout(self.run_dir, epoch, held)
        runlog.write_epoch(self.run_dir, epoch, {
            "sample_id": self.sample_ids, "given_label": self.given,
            "current_label": records.current_label, "weight": records.weight, "high": records.high,
            "pred_label": records.pred_label, "proposed_label": records.proposed_label,
            "probs": records.probs})
        metrics = epoch_metrics(epoch, records, stats, lr=lr, val_accuracy=val_accuracy,
                                margin_1=float(learner.margin().detach()),
                                seconds=time.perf_counter() - started)
        runlog.write_metrics(self.run_dir, metrics)
        score = metrics["val_acc"] if val_accuracy is not None else metrics["train_acc"]
        if score > self.best_accuracy:
            self.best_accuracy = score
            checkpoint.save(self.run_dir, "best", {"model": learner.model.state_dict(),
                                                   "epoch": epoch, "accuracy": score})
        checkpoint.save(self.run_dir, "last", self._state(epoch))
        runlog.write_info(self.run_dir, epochs_done=epoch)
        self.reporter.end_epoch(metrics)
        if metrics["weights_vanished"]:
            raise TrainingError(self._vanished_message(epoch, metrics["weight_p90"]))

    def _vanished_message(self, epoch: int, p90: float) -> str:
        """The one line that stops a run whose weights vanished: what it means and the fix."""
        config = self.config
        pretrained = "" if config.pretrained or config.weights else (
            " or from pretrained weights (--pretrained, or --weights PATH)")
        return (f"{self.run_dir}: epoch {epoch}: SCN's importance weights fell to ~0 for nearly "
                f"every sample (90th percentile {p90:.4f} < {VANISHED_WEIGHT}): the network no "
                "longer learns from its labels and its records are noise; train a new run with a "
                f"lower --lr (this run: {config.lr:g}){pretrained}")

    def _combine(self, records: EpochRecords, stats: EpochStats) -> tuple[EpochRecords, EpochStats]:
        """Every process's records and stats of the epoch, on every process."""
        parts = self.group.all_gather((records.trained_part(), stats))
        return (EpochRecords.combine([part for part, _ in parts], records.current_label,
                                     self.num_classes),
                EpochStats.combine([part_stats for _, part_stats in parts]))

    def _state(self, epoch: int) -> dict:
        learner = self.learner
        return {"epoch": epoch, "model": learner.model.state_dict(),
                "margin": learner.margin.state_dict(), "optimizer": learner.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": learner.scaler.state_dict() if learner.scaler else None,
                "labels": self.labels.copy(), "best_accuracy": self.best_accuracy}

    def _restore(self) -> int:
        state = self.group.on_main(self._load_last)
        if state is None:
            self.reporter.note("no epoch was checkpointed yet; starting from epoch 1")
            return 0
        where = checkpoint.checkpoint_path(self.run_dir, "last")
        learner = self.learner
        checkpoint.restore(learner.model, state["model"], where)
        checkpoint.restore(learner.margin, state["margin"], where)
        learner.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if learner.scaler and state["scaler"]:
            learner.scaler.load_state_dict(state["scaler"])
        self.labels[:] = state["labels"]
        self.best_accuracy = state["best_accuracy"]
        done = int(state["epoch"])
        self.reporter.note(f"resuming after epoch {done}")
        return done

    def _load_last(self) -> dict | None:
        """Rank 0: the last checkpoint (None before the first); records of later epochs, whose
        checkpoint never landed, are dropped to be redone."""
        saved = checkpoint.checkpoint_path(self.run_dir, "last").is_file()
        state = checkpoint.load_state(self.run_dir, "last") if saved else None
        done = int(state["epoch"]) if state else 0
        for path in runlog.epoch_files(self.run_dir):
            if runlog.epoch_of(path) > done:
                path.unlink()
        return state

    def _predict_held(self) -> dict | None:
        """The held-out samples' predictions (every process predicts its share), in id order."""
        if not len(self.held_ids):
            return None
        part = predict(self.learner.model, self.held_loader, self.device, amp=self.config.amp)
        parts = self.group.all_gather(part)
        world = self.group.world
        probs = np.zeros((len(self.held_ids), self.num_classes), np.float32)
        weights = np.zeros(len(self.held_ids), np.float32)
        for rank, (rank_probs, rank_weights) in enumerate(parts):
            probs[rank::world], weights[rank::world] = rank_probs, rank_weights
        return {"sample_id": self.held_ids, "given_label": self.all_labels[self.held_ids],
                "weight": weights, "pred_label": probs.argmax(axis=1), "probs": probs}

    def _train_loader(self, epoch: int, *, augmentation: torch.Generator) -> DataLoader:
        """The epoch's batches for this process: the order is drawn alike on every process, the
        augmentation (worker seeds) per process."""
        config, group = self.config, self.group
        dataset = ImageDataset(self.train_rows["filepath"].tolist(),
                               make_transform(config.image_size, train=True))
        order = torch.Generator().manual_seed(config.seed * 100_019 + epoch)
        batches = EpochBatches(len(dataset), config.batch_size, order, rank=group.rank,
                               world=group.world)
        return DataLoader(dataset, batch_sampler=batches, num_workers=config.workers,
                          pin_memory=self.device.type == "cuda", generator=augmentation)

    def _eval_loader(self, rows) -> DataLoader:
        """The held-out part has no randomness, so its workers can live for the whole run."""
        config = self.config
        dataset = ImageDataset(rows["filepath"].tolist(), make_transform(config.image_size, train=False))
        return DataLoader(dataset, batch_size=config.batch_size, num_workers=config.workers,
                          pin_memory=self.device.type == "cuda",
                          persistent_workers=config.workers > 0)


def _accuracy(held: dict | None, rows: np.ndarray) -> float | None:
    """Accuracy of the held-out predictions on `rows` (a mask); None when there are none."""
    if held is None or not rows.any():
        return None
    return float((held["pred_label"][rows] == held["given_label"][rows]).mean())


def param_groups(config: TrainConfig, model: torch.nn.Module, margin: Margin) -> list[dict]:
    """One parameter group, or two when the attention head has its own rate
    (`attention_lr_scale` != 1: lr x scale for `alpha.*`, lr for the rest)."""
    extra = [margin.value] if config.learn_margin else []
    if config.attention_lr_scale == 1:
        return [{"params": list(model.parameters()) + extra}]
    named = list(model.named_parameters())
    head = [p for name, p in named if name.startswith("alpha.")]
    rest = [p for name, p in named if not name.startswith("alpha.")]
    return [{"params": rest + extra},
            {"params": head, "lr": config.lr * config.attention_lr_scale}]


def _optimizer(config: TrainConfig, params: list[dict]) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), config.lr_decay)
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, config.lr_decay)

