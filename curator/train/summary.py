"""The metrics row of one epoch, including the weight spread that makes an alpha collapse visible.

SCN's known failure: alpha saturates at ~1 for every sample, the high/low gap vanishes and the
network silently degrades to plain CE. `collapsed` flags an epoch whose weights barely spread.
"""

from __future__ import annotations

import numpy as np

from curator.train.epoch import EpochRecords, EpochStats

# An epoch is flagged collapsed when the middle 80% of weights span less than this.
COLLAPSE_SPREAD = 0.02


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
        "lr": lr,
        "seconds": seconds,
    }
