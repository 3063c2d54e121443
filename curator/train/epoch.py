"""One training epoch of SCN (or plain CE) that also records what happened to every sample.

The record of a sample is taken in its own training step (the *training pass*): the probabilities
are the classifier's softmax before the attention weighting, `current_label` is the label it was
trained on in this epoch, and `proposed_label` is what SCN's relabel rule says at that step
(applied to the shared label table only from `relabel_epoch` on, as in the paper). The steps'
outputs stay on the device and the records are computed from them once the epoch ends.

Relabels are applied to the label table at the end of the epoch (`apply_relabels`), once the
records of every process are combined. Since each sample is trained on exactly once per epoch,
this is the same as applying them step by step: a relabel can only matter in the next epoch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from torch import Tensor, nn

from curator.config import TrainConfig
from curator.scn import losses
from curator.scn.model import SCN
from curator.train.distributed import average_gradients


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

    def trained_part(self) -> tuple[np.ndarray, "EpochRecords"]:
        """(positions, their records) of the samples this process trained on (pred_label is -1
        until a sample is recorded): what it sends to the other processes."""
        positions = np.flatnonzero(self.pred_label >= 0)
        return positions, EpochRecords(*(getattr(self, f.name)[positions] for f in fields(self)))

    @classmethod
    def combine(cls, parts: list[tuple[np.ndarray, "EpochRecords"]], labels: np.ndarray,
                num_classes: int) -> "EpochRecords":
        """The whole epoch from every process's `trained_part`; each sample must be in exactly one."""
        whole = cls.empty(labels, num_classes)
        for positions, part in parts:
            for f in fields(cls):
                getattr(whole, f.name)[positions] = getattr(part, f.name)
        counts = np.bincount(np.concatenate([p for p, _ in parts]), minlength=len(labels))
        if (counts != 1).any():
            raise RuntimeError(f"epoch records cover {int((counts == 0).sum())} sample(s) never and "
                               f"{int((counts > 1).sum())} more than once; the batch sampler is broken")
        return whole


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

    @classmethod
    def combine(cls, parts: list["EpochStats"]) -> "EpochStats":
        """The sums of every process's stats (batch gaps in rank order)."""
        total = cls()
        for part in parts:
            for f in fields(cls):
                setattr(total, f.name, getattr(total, f.name) + getattr(part, f.name))
        return total


class Margin(nn.Module):
    """delta_1 of the RR loss: a constant, or a learnable scalar (clamped at 0) with --learn-margin."""

    def __init__(self, value: float, learnable: bool) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value)), requires_grad=learnable)

    def forward(self) -> Tensor:
        return self.value.clamp(min=0.0)


@dataclass
class Learner:
    """What an epoch trains: the model, the network that runs it (DDP-wrapped when distributed),
    delta_1, the optimiser and, for float16 autocast, the gradient scaler."""

    model: SCN
    network: nn.Module
    margin: Margin
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    device: torch.device

    def step(self, loss: Tensor) -> None:
        """One optimiser step on `loss` (DDP averages the gradients over processes on the way)."""
        self.optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        average_gradients(self.network, self.margin.parameters())
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()


def train_epoch(learner: Learner, loader, labels: np.ndarray, config: TrainConfig,
                advance: Callable[[], None] = lambda: None) -> tuple[EpochRecords, EpochStats]:
    """Train one epoch on the batches of `loader`; records what happened to each of them.

    The steps' outputs stay on the device until the epoch ends: one transfer instead of a host
    synchronisation per step, which on a GPU would stall every step behind the last."""
    device = learner.device
    learner.network.train()
    steps: list[_Step] = []
    label_table = torch.as_tensor(labels, device=device)  # labels change only between epochs
    for images, index in loader:
        images = images.to(device, non_blocking=True)
        if device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        targets = label_table[index.to(device, non_blocking=True)]
        with _autocast(device, config.amp):
            alpha, logits = learner.network(images)
        alpha, logits = alpha.float(), logits.float()
        if config.method == "scn":
            loss, wce, rr = losses.scn_loss(logits, alpha, targets, beta=config.beta,
                                            margin=learner.margin(), gamma=config.gamma)
        else:
            loss = wce = nn.functional.cross_entropy(logits, targets)
            rr = torch.zeros((), device=device)
        learner.step(loss)
        steps.append(_Step(index.numpy(), alpha.detach(), logits.detach(), targets,
                           torch.stack([loss, wce, rr]).detach()))
        advance()
    return _collect(steps, labels, learner.model.fc.out_features, config)


def apply_relabels(labels: np.ndarray, records: EpochRecords, epoch: int, config: TrainConfig) -> int:
    """Write the epoch's relabel proposals into the label table (from `relabel_epoch` on, SCN
    with --relabel only); returns how many labels changed hands."""
    if not (config.method == "scn" and config.relabel and epoch >= config.relabel_epoch):
        return 0
    changed = records.proposed_label >= 0
    labels[changed] = records.proposed_label[changed]
    return int(changed.sum())


def _proposals(logits: Tensor, alpha: Tensor, targets: Tensor, high: Tensor,
               config: TrainConfig) -> Tensor:
    """SCN's relabel rule on the softmax of the weighted logits, as the authors compute it
    (recorded for every SCN run; applied to the label table only with --relabel)."""
    if config.method != "scn":
        return torch.full_like(targets, losses.NO_LABEL)
    probs = torch.softmax(losses.weighted_logits(logits, alpha), dim=1)
    eligible = ~high if config.relabel_scope == "low" else torch.ones_like(high)
    return losses.relabel(probs, targets, eligible, config.margin_2)


@dataclass
class _Step:
    """One training step's outputs, still on the device: positions (numpy), alpha, logits,
    targets and the losses (total, wce, rr)."""

    index: np.ndarray
    alpha: Tensor
    logits: Tensor
    targets: Tensor
    losses: Tensor


def _collect(steps: list[_Step], labels: np.ndarray, num_classes: int,
             config: TrainConfig) -> tuple[EpochRecords, EpochStats]:
    """The epoch's records and stats from its steps, in one transfer from the device."""
    records = EpochRecords.empty(labels, num_classes)
    stats = EpochStats(batches=len(steps))
    if not steps:
        return records, stats
    alpha = torch.cat([s.alpha for s in steps])
    # the groups are per batch, as the RR loss split them (the same stable sort of the same alpha)
    high = (torch.cat([losses.split_groups(s.alpha, config.beta) for s in steps])
            if config.method == "scn" else torch.ones_like(alpha, dtype=torch.bool))
    logits = torch.cat([s.logits for s in steps])
    targets = torch.cat([s.targets for s in steps])
    probs = torch.softmax(logits, dim=1)
    pred = probs.argmax(dim=1)
    proposed = _proposals(logits, alpha, targets, high, config)  # per sample, so once per epoch
    sizes = torch.tensor([len(s.index) for s in steps], device=alpha.device)
    step_losses = torch.stack([s.losses for s in steps])  # (steps, 3)
    gaps = _batch_gaps(alpha, high, sizes)
    index = np.concatenate([s.index for s in steps])
    records.weight[index] = alpha.cpu().numpy()
    records.high[index] = high.cpu().numpy()
    records.pred_label[index] = pred.cpu().numpy()
    records.proposed_label[index] = proposed.cpu().numpy()
    records.probs[index] = probs.cpu().numpy().astype(np.float16)
    stats.loss, stats.wce, stats.rr = (sizes.float() @ step_losses).tolist()
    stats.rr_active = int((step_losses[:, 2] > 0).sum())
    stats.correct = int((pred == targets).sum())
    stats.seen = len(index)
    stats.proposals = int((proposed >= 0).sum())
    stats.batch_gaps = gaps.tolist()
    return records, stats


def _batch_gaps(alpha: Tensor, high: Tensor, sizes: Tensor) -> Tensor:
    """Mean alpha of the high minus the low group, per batch (`sizes` in order) holding both."""
    batch = torch.repeat_interleave(torch.arange(len(sizes), device=alpha.device), sizes)
    groups = torch.stack([high, ~high], dim=1).float()  # (N, 2)
    sums = torch.zeros(len(sizes), 2, device=alpha.device).index_add_(0, batch, groups * alpha[:, None])
    counts = torch.zeros(len(sizes), 2, device=alpha.device).index_add_(0, batch, groups)
    both = (counts > 0).all(dim=1)
    means = sums[both] / counts[both]
    return means[:, 0] - means[:, 1]


def _autocast(device: torch.device, enabled: bool):
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def predict(model: nn.Module, loader, device: torch.device, *,
            amp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Softmax class probabilities (N, K) and SCN weights (N,) of a loader yielding
    (images, index), in loader order, in evaluation mode."""
    model.eval()
    probs, weights = [], []
    for images, _ in loader:
        with _autocast(device, amp):
            alpha, logits = model(images.to(device, non_blocking=True))
        probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        weights.append(alpha.float().cpu().numpy())
    if not probs:
        return np.zeros((0, model.fc.out_features), np.float32), np.zeros(0, np.float32)
    return np.concatenate(probs), np.concatenate(weights)
