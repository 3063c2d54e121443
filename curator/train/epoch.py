"""One training epoch of SCN (or plain CE) that also records what happened to every sample.

The record of a sample is taken in its own training step (the *training pass*): the probabilities
are the classifier's softmax before the attention weighting, `current_label` is the label it was
trained on in this epoch, and `proposed_label` is what SCN's relabel rule says at that step
(applied to the shared label table only from `relabel_epoch` on, as in the paper).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from curator.config import TrainConfig
from curator.scn import losses


@dataclass
class EpochRecords:
    """Per-sample arrays of one epoch, indexed by training-sample position."""

    current_label: np.ndarray
    weight: np.ndarray
    high: np.ndarray
    pred_label: np.ndarray
    proposed_label: np.ndarray
    probs: np.ndarray

    @classmethod
    def empty(cls, labels: np.ndarray, num_classes: int) -> "EpochRecords":
        n = len(labels)
        return cls(labels.copy(), np.full(n, np.nan, np.float32), np.zeros(n, bool),
                   np.full(n, -1, np.int16), np.full(n, -1, np.int16),
                   np.zeros((n, num_classes), np.float16))


@dataclass
class EpochStats:
    """Running sums for the epoch's metrics row."""

    loss: float = 0.0
    wce: float = 0.0
    rr: float = 0.0
    correct: int = 0
    seen: int = 0
    batches: int = 0
    rr_active: int = 0
    relabels: int = 0
    proposals: int = 0
    batch_gaps: list[float] = field(default_factory=list)


class Margin(nn.Module):
    """delta_1 of the RR loss: a constant, or a learnable scalar (clamped at 0) with --learn-margin."""

    def __init__(self, value: float, learnable: bool) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value)), requires_grad=learnable)

    def forward(self) -> Tensor:
        return self.value.clamp(min=0.0)


def train_epoch(model: nn.Module, margin: Margin, loader, labels: np.ndarray, epoch: int,
                config: TrainConfig, optimizer: torch.optim.Optimizer, device: torch.device,
                scaler: torch.amp.GradScaler | None, advance=lambda: None) -> tuple[EpochRecords, EpochStats]:
    """Train one epoch; mutates `labels` (the shared label table) when relabels are applied."""
    model.train()
    records = EpochRecords.empty(labels, model.fc.out_features)
    stats = EpochStats()
    apply_relabels = config.method == "scn" and config.relabel and epoch >= config.relabel_epoch
    for images, index in loader:
        images = images.to(device, non_blocking=True)
        if device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        targets = torch.as_tensor(labels[index.numpy()], device=device)
        with _autocast(device, config.amp):
            alpha, logits = model(images)
        alpha, logits = alpha.float(), logits.float()
        if config.method == "scn":
            high = losses.split_groups(alpha, config.beta)
            loss, wce, rr = losses.scn_loss(logits, alpha, targets, high, margin=margin(),
                                            gamma=config.gamma)
        else:
            high = torch.ones_like(alpha, dtype=torch.bool)
            loss = wce = nn.functional.cross_entropy(logits, targets)
            rr = torch.zeros(())
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            proposed = _proposals(logits, alpha, targets, high, config)
        _record(records, stats, index.numpy(), alpha, high, logits, proposed, targets)
        if apply_relabels:
            changed = proposed.cpu().numpy() >= 0
            labels[index.numpy()[changed]] = proposed.cpu().numpy()[changed]
            stats.relabels += int(changed.sum())
        stats.loss += loss.item() * len(index)
        stats.wce += wce.item() * len(index)
        stats.rr += rr.item() * len(index)
        stats.rr_active += int(rr.item() > 0)
        stats.batches += 1
        advance()
    return records, stats


def _proposals(logits: Tensor, alpha: Tensor, targets: Tensor, high: Tensor,
               config: TrainConfig) -> Tensor:
    """SCN's relabel rule on the softmax of the weighted logits, as the authors compute it."""
    if config.method != "scn" or not config.relabel:
        return torch.full_like(targets, losses.NO_LABEL)
    probs = torch.softmax(losses.weighted_logits(logits, alpha), dim=1)
    eligible = ~high if config.relabel_scope == "low" else torch.ones_like(high)
    return losses.relabel(probs, targets, eligible, config.margin_2)


def _record(records: EpochRecords, stats: EpochStats, index: np.ndarray, alpha: Tensor,
            high: Tensor, logits: Tensor, proposed: Tensor, targets: Tensor) -> None:
    probs = torch.softmax(logits.detach(), dim=1)
    pred = probs.argmax(dim=1)
    records.weight[index] = alpha.detach().cpu().numpy()
    records.high[index] = high.cpu().numpy()
    records.pred_label[index] = pred.cpu().numpy()
    records.proposed_label[index] = proposed.cpu().numpy()
    records.probs[index] = probs.cpu().numpy().astype(np.float16)
    stats.correct += int((pred == targets).sum())
    stats.seen += len(index)
    stats.proposals += int((proposed >= 0).sum())
    if high.any() and not high.all():
        alpha = alpha.detach()
        stats.batch_gaps.append(float(alpha[high].mean() - alpha[~high].mean()))


def _autocast(device: torch.device, enabled: bool):
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def predict_probs(model: nn.Module, loader, device: torch.device, *, amp: bool = True) -> np.ndarray:
    """Softmax class probabilities (N, K) of a loader yielding (images, index), in loader order."""
    model.eval()
    chunks = []
    for images, _ in loader:
        with _autocast(device, amp):
            _, logits = model(images.to(device, non_blocking=True))
        chunks.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, model.fc.out_features), np.float32)
