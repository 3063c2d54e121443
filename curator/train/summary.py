"""The metrics row of one epoch, including the weight spread that makes SCN's failures visible.

SCN's attention weight alpha fails in two ways. It can saturate at ~1 for every sample: the
high/low gap vanishes and the network silently degrades to plain CE, which still learns;
`collapsed` flags an epoch whose weights barely spread, and training goes on with a warning.
Or it can fall to ~0 for (nearly) every sample (seen with a from-scratch ResNet-18 at a high
learning rate): the weighted logits are ~0, the loss no longer depends on the classifier, the
backbone gets no gradient and the saturated sigmoid cannot recover, so the network stops
learning and its records freeze at a junk prediction; `weights_vanished` flags such an epoch,
and the trainer stops the run after writing it.
"""

from __future__ import annotations

import numpy as np

from curator.train.epoch import EpochRecords, EpochStats

# An epoch is flagged collapsed when the middle 80% of weights span less than this.
COLLAPSE_SPREAD = 0.02
# An epoch's weights have vanished when 90% of them are below this. alpha = sigmoid(z) < 0.01
# means z < -4.6, where the sigmoid's slope alpha * (1 - alpha) is < 0.01 too: the weighted
# logits, the gradient reaching the classifier and backbone, and the attention head's own
# gradient (the only way back) are all scaled down a hundredfold: an absorbing state. Healthy
# runs sit far above it (alpha starts near 0.5 and the high group's stays in the tenths; a
# 20-epoch sample_data run's lowest p90 was 0.64), and plain CE's alpha is always 1. The 90th
# percentile (the `weight_p90` column) rather than the mean: the few samples that still carry
# weight cannot teach the network, but would keep the mean up.
VANISHED_WEIGHT = 0.01


def weights_vanished(weight: np.ndarray) -> bool:
    """True when an epoch's importance weights fell to ~0: their 90th percentile is below
    VANISHED_WEIGHT (so the network no longer learns from its labels)."""
    return bool(np.percentile(weight, 90) < VANISHED_WEIGHT)


def epoch_metrics(epoch: int, records: EpochRecords, stats: EpochStats, *, lr: float,
                  val_accuracy: float | None, margin_1: float, seconds: float) -> dict:
    """One metrics.csv row: losses, accuracies, relabels and the weight distribution."""
    weight, high = records.weight, records.high
    p10, p90 = np.percentile(weight, [10, 90])
    n = max(stats.seen, 1)
    return {
        "epoch": epoch,
        "loss": stats.loss / n,
        "loss_wce": stats.wce / n,
        "loss_rr": stats.rr / n,
        "train_acc": stats.correct / n,
        "val_acc": val_accuracy if val_accuracy is not None else np.nan,
        "proposals": stats.proposals,
        "relabels": stats.relabels,
        "weight_mean": float(weight.mean()),
        "weight_std": float(weight.std()),
        "weight_p10": float(p10),
        "weight_p90": float(p90),
        "weight_mean_high": float(weight[high].mean()) if high.any() else np.nan,
        "weight_mean_low": float(weight[~high].mean()) if (~high).any() else np.nan,
        "batch_gap": float(np.mean(stats.batch_gaps)) if stats.batch_gaps else np.nan,
        "rr_active_share": stats.rr_active / max(stats.batches, 1),
        "margin_1": margin_1,
        "collapsed": bool(stats.batch_gaps) and float(p90 - p10) < COLLAPSE_SPREAD,
        "weights_vanished": weights_vanished(weight),
        "lr": lr,
        "seconds": seconds,
    }
