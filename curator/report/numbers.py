"""The numbers behind `curator report`: per-epoch weight and relabel statistics, and how well the
run found and fixed flipped labels when the truth is known.

Relabels are SCN's in-training relabels: records with a proposal in an epoch where proposals are
applied (SCN with relabelling on, epoch >= relabel_epoch). The truth numbers cover the samples
whose truth is known; "accepting every proposal" is what `curator export --policy
accept-proposals` would do, "SCN's label table" is the label SCN itself trained on last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from curator import metrics, runlog
from curator.config import TrainConfig
from curator.proposals import settled_rule

WEIGHT_BINS = 20


@dataclass(frozen=True)
class EpochStats:
    """Aggregates of the per-sample records, one entry per completed epoch."""

    epochs: list[int]
    weight_histograms: np.ndarray  # (epochs, WEIGHT_BINS) share of samples per weight bin
    weight_edges: np.ndarray  # (WEIGHT_BINS + 1,) bin edges over [0, 1]
    mean_weight_high: np.ndarray
    mean_weight_low: np.ndarray
    relabels: np.ndarray  # SCN relabels applied in the epoch
    changed_share: np.ndarray  # share of samples trained on a label other than the given one
    low_weight_rate: np.ndarray  # (classes,) share of each given class's sample-epochs in the low group


def epoch_stats(run_dir: Path, config: TrainConfig, n_classes: int) -> EpochStats:
    """Read every record file once and aggregate it per epoch."""
    epochs = runlog.completed_epochs(run_dir)
    edges = np.linspace(0.0, 1.0, WEIGHT_BINS + 1)
    histograms, high_means, low_means, relabels, changed = [], [], [], [], []
    low_counts = np.zeros(n_classes)
    totals = np.zeros(n_classes)
    relabelling = config.method == "scn" and config.relabel
    for epoch in epochs:
        raw = runlog.read_raw_epoch(run_dir, epoch)
        weight = raw["weight"].to_numpy(np.float64)
        high = raw["high"].to_numpy(bool)
        given = raw["given_label"].to_numpy(np.int64)
        histograms.append(np.histogram(np.clip(weight, 0, 1), edges)[0] / max(len(weight), 1))
        high_means.append(weight[high].mean() if high.any() else np.nan)
        low_means.append(weight[~high].mean() if (~high).any() else np.nan)
        applied = relabelling and epoch >= config.relabel_epoch
        relabels.append(int((raw["proposed_label"] != runlog.NO_LABEL).sum()) if applied else 0)
        changed.append(float((raw["current_label"].to_numpy() != given).mean()))
        low_counts += np.bincount(given[~high], minlength=n_classes)
        totals += np.bincount(given, minlength=n_classes)
    with np.errstate(invalid="ignore"):
        low_rate = low_counts / totals
    return EpochStats(epochs, np.array(histograms), edges, np.array(high_means),
                      np.array(low_means), np.array(relabels), np.array(changed), low_rate)


def label_codes(column: pd.Series) -> np.ndarray:
    """Class indices of a categorical label column of `sample_scores`, -1 where missing."""
    return column.cat.codes.to_numpy(np.int64)


def proposal_counts(scores: pd.DataFrame, n_classes: int) -> np.ndarray:
    """(classes, classes) counts of proposals: rows = given label, columns = proposed label."""
    given, proposed = label_codes(scores["given_label"]), label_codes(scores["proposed_label"])
    has = proposed >= 0
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (given[has], proposed[has]), 1)
    return counts


def truth_numbers(scores: pd.DataFrame) -> dict[str, float | int] | None:
    """Noise-detection and correction quality against the known truth; None without truth."""
    if "truth" not in scores or scores["truth"].isna().all():
        return None
    known = scores[scores["truth"].notna()]
    given, truth = label_codes(known["given_label"]), label_codes(known["truth"])
    proposed, scn = label_codes(known["proposed_label"]), label_codes(known["scn_label"])
    flipped = given != truth
    suspicion = known["suspicion"].to_numpy(np.float64)
    accept_all = np.where(proposed >= 0, proposed, given)
    precision, recall = metrics.proposal_precision_recall(given, proposed, truth)
    has = proposed >= 0
    confidence = known["confidence"].to_numpy(np.float64)[has]
    return {
        "samples_with_truth": len(known),
        "flipped": int(flipped.sum()),
        "noise_rate": float(flipped.mean()),
        "suspicion_auroc": metrics.auroc(suspicion, flipped),
        "suspicion_average_precision": metrics.average_precision(suspicion, flipped),
        "suspicion_precision_at_flipped": (metrics.precision_at_k(suspicion, flipped, int(flipped.sum()))
                                           if flipped.any() else float("nan")),
        "proposals": int(has.sum()),
        "proposal_precision": precision,
        "proposal_recall": recall,
        "flips_corrected": metrics.flips_corrected(given, accept_all, truth),
        "clean_labels_changed": metrics.clean_labels_changed(given, accept_all, truth),
        "net_gain": metrics.net_gain(given, accept_all, truth),
        "expected_net_gain": float(np.nansum(known["expected_gain"].to_numpy(np.float64))),
        "proposal_ece": metrics.expected_calibration_error(confidence, proposed[has] == truth[has]),
        "scn_flips_corrected": metrics.flips_corrected(given, scn, truth),
        "scn_clean_labels_changed": metrics.clean_labels_changed(given, scn, truth),
        "scn_net_gain": metrics.net_gain(given, scn, truth),
    }


def summary(run_dir: Path, info: dict, classes: tuple[str, ...], scores: pd.DataFrame,
            stats: EpochStats) -> dict:
    """The headline numbers written to summary.json (NaN becomes null)."""
    given = label_codes(scores["given_label"])
    numbers = {
        "run_dir": str(Path(run_dir).resolve()),
        "state": info.get("state"),
        "epochs": stats.epochs,
        "classes": list(classes),
        "training_samples": len(scores),
        "proposals": int(scores["proposed_label"].notna().sum()),
        # the rule and window the proposals came from (`auto` settled) and auto's late_rise
        "proposal_rule": settled_rule(scores),
        "scn_relabelled": int((label_codes(scores["scn_label"]) != given).sum()),
        "final_mean_weight": float(scores["scn_weight"].mean()),
        "mean_weight_high": stats.mean_weight_high.tolist(),
        "mean_weight_low": stats.mean_weight_low.tolist(),
        "relabels_per_epoch": stats.relabels.tolist(),
        "low_weight_rate": dict(zip(classes, stats.low_weight_rate.tolist())),
        "truth": truth_numbers(scores),
    }
    return _without_nan(numbers)


def _without_nan(value: object) -> object:
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
