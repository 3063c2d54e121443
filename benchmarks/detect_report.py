"""Numbers of the detection benchmark: a results row per method x noise x seed, the mean and std
over seeds as a markdown table, and the issue's goal check for curator.

All maths comes from `curator.metrics`. Positive = the given label is wrong (given != truth);
samples whose truth is unknown are left out. A "flagged" sample is one the method reports as
wrong; "corrected" is the share of wrong labels whose proposal is the truth; "clean changed"
counts right labels that a proposal would change. A method whose training stopped with a
`TrainingError` (SCN's weights vanished) gets a `failed` row with no metrics: the means are over
the runs that finished, and a failed curator run fails the goal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curator import metrics
from detect_methods import Detection
from detect_data import Replicate

METRICS = ("auroc", "precision_at_k", "flag_precision", "flag_recall", "corrected", "proposals",
           "proposal_precision", "clean_changed", "clean_changed_share", "net_gain",
           "net_gain_share", "confidence_ece", "ambiguity_spearman", "late_rise", "test_accuracy",
           "train_seconds", "score_seconds", "wall_seconds")
# The goal: curator's ranking beats every baseline on these, at 20% and 30% noise ...
RANKING_GOALS = ("auroc", "precision_at_k")
BASELINES = ("ce", "cleanlab")
# ... and its proposals fix at least half of the wrong labels, changing at most 2% of right ones.
MIN_CORRECTED = 0.5
MAX_CLEAN_CHANGED_SHARE = 0.02
# Real noise (issue "real label noise"): taking curator's proposals must gain >= 2% of the set,
# with at least half of the applied proposals right.
MIN_NET_GAIN_SHARE = 0.02
MIN_PROPOSAL_PRECISION = 0.5


def result_row(detection: Detection, replicate: Replicate, data_name: str,
               vote_entropy: pd.Series | None = None) -> dict:
    """The CSV row of one method on one replicate; `vote_entropy` (by filepath) adds the rank
    correlation of curator's ambiguity with the annotators' disagreement."""
    known = detection.truth >= 0
    given, truth = detection.given[known], detection.truth[known]
    proposed, flagged = detection.proposed[known], detection.flagged[known]
    suspicion = detection.suspicion[known]
    wrong = given != truth
    final = np.where(proposed >= 0, proposed, given)
    changed = metrics.clean_labels_changed(given, final, truth)
    gain = metrics.net_gain(given, final, truth)
    return {
        "data": data_name, "method": detection.method, "noise_level": replicate.noise_level,
        "seed": replicate.seed, "failed": False, "train_samples": int(known.sum()),
        "wrong_labels": int(wrong.sum()),
        "noise_rate": float(wrong.mean()),
        "auroc": metrics.auroc(suspicion, wrong),
        "precision_at_k": (metrics.precision_at_k(suspicion, wrong, int(wrong.sum()))
                           if wrong.any() else np.nan),
        "flagged": int(flagged.sum()),
        "flag_precision": float(wrong[flagged].mean()) if flagged.any() else np.nan,
        "flag_recall": float(flagged[wrong].mean()) if wrong.any() else np.nan,
        "proposals": int((proposed >= 0).sum()),
        "corrected": metrics.flips_corrected(given, final, truth),
        "proposal_precision": metrics.proposal_precision_recall(given, proposed, truth)[0],
        "clean_changed": changed,
        "clean_changed_share": changed / max(int((~wrong).sum()), 1),
        "net_gain": gain,
        "net_gain_share": gain / max(int(known.sum()), 1),
        "confidence_ece": _confidence_ece(detection, known),
        "ambiguity_spearman": _ambiguity_spearman(detection, vote_entropy),
        "late_rise": detection.late_rise,
        "test_accuracy": detection.test_accuracy,
        "train_seconds": detection.train_seconds,
        "score_seconds": detection.score_seconds,
        "wall_seconds": detection.train_seconds + detection.score_seconds,
    }


def failed_row(method: str, replicate: Replicate, data_name: str) -> dict:
    """The CSV row of a method whose training failed on `replicate`: no metrics."""
    return {"data": data_name, "method": method, "noise_level": replicate.noise_level,
            "seed": replicate.seed, "failed": True, **{name: np.nan for name in METRICS}}


def _confidence_ece(detection: Detection, known: np.ndarray) -> float:
    """ECE of curator's proposal confidence against 'the proposal is the truth'."""
    if detection.confidence is None:
        return np.nan
    has = known & (detection.proposed >= 0)
    if not has.any():
        return np.nan
    right = detection.proposed[has] == detection.truth[has]
    return metrics.expected_calibration_error(detection.confidence[has], right)


def _ambiguity_spearman(detection: Detection, vote_entropy: pd.Series | None) -> float:
    """Spearman correlation of curator's ambiguity with the vote entropy of the same faces."""
    if detection.ambiguity is None or vote_entropy is None:
        return np.nan
    entropy = vote_entropy.reindex(detection.filepaths).to_numpy(np.float64)
    ok = ~np.isnan(entropy)
    if ok.sum() < 3:
        return np.nan
    ranks = pd.DataFrame({"a": detection.ambiguity[ok], "e": entropy[ok]}).rank()
    return float(np.corrcoef(ranks["a"], ranks["e"])[0, 1])


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per noise level and method (columns `<metric>_mean`, `_std`)."""
    grouped = results.groupby(["noise_level", "method"], sort=False)[list(METRICS)]
    summary = grouped.mean().add_suffix("_mean").join(grouped.std().add_suffix("_std"))
    failed = results.groupby(["noise_level", "method"], sort=False)["failed"].sum()
    return summary.join(grouped.size().rename("seeds")).join(failed.astype(int)).reset_index()


def markdown(summary: pd.DataFrame) -> str:
    """The summary as markdown tables (mean ± std over seeds): detection, then proposals."""
    return _detection_table(summary) + "\n\n" + _proposal_table(summary)


def _proposal_table(summary: pd.DataFrame) -> str:
    """What taking every proposal does: count, precision, net gain; curator's calibration."""
    lines = ["| noise | method | proposals | proposal P | net gain | net gain share | ECE "
             "| ambiguity ρ (votes) |", "|---" * 8 + "|"]
    for row in summary.to_dict("records"):
        cells = [row["noise_level"], row["method"], f"{row['proposals_mean']:.0f}"]
        cells += [_mean_std(row, "proposal_precision"), _mean_std(row, "net_gain", "+.1f"),
                  _mean_std(row, "net_gain_share", "+.2%"), _mean_std(row, "confidence_ece"),
                  _mean_std(row, "ambiguity_spearman")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _detection_table(summary: pd.DataFrame) -> str:
    header = ("| noise | method | AUROC | P@k | flagged P | flagged R | corrected | clean changed "
              "| test acc | wall s | seeds |")
    lines = [header, "|---" * 11 + "|"]
    for row in summary.to_dict("records"):
        cells = [row["noise_level"], row["method"]]
        cells += [_mean_std(row, name) for name in ("auroc", "precision_at_k", "flag_precision",
                                                    "flag_recall", "corrected")]
        cells.append(f"{row['clean_changed_mean']:.1f} ({row['clean_changed_share_mean']:.1%})")
        cells.append(_mean_std(row, "test_accuracy"))
        cells.append(f"{row['wall_seconds_mean']:.0f}")
        cells.append(str(row["seeds"]) + (f" ({row['failed']} failed)" if row["failed"] else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goal_check(summary: pd.DataFrame) -> list[str]:
    """One line per noise level: does curator meet the issue's goal, with the numbers behind it
    (means over seeds, 4 decimals: on easy data the rankings differ only there)."""
    lines = []
    for level, rows in summary.groupby("noise_level", sort=False):
        by_method = rows.set_index("method")
        if "curator" not in by_method.index:
            continue
        ours = by_method.loc["curator"]
        baselines = [b for b in BASELINES if b in by_method.index]
        missed, facts = [], []
        if ours["failed"]:
            missed.append("training failed")
            facts.append(f"training failed in {ours['failed']:.0f} of {ours['seeds']:.0f} seeds")
        for name in RANKING_GOALS:
            theirs = {b: by_method.loc[b, f"{name}_mean"] for b in baselines}
            if not all(ours[f"{name}_mean"] > value for value in theirs.values()):
                missed.append(name)
            compared = ", ".join(f"{b} {value:.4f}" for b, value in theirs.items())
            facts.append(f"{name} {ours[f'{name}_mean']:.4f}"
                         + (f" vs {compared}" if compared else ""))
        if level == "real":  # no synthetic-noise goal: report the ranking, check the proposals
            lines.append("real noise: ranking " + "; ".join(facts))
            lines.append(_real_noise_check(ours))
            continue
        corrected, changed = ours["corrected_mean"], ours["clean_changed_share_mean"]
        if not corrected >= MIN_CORRECTED:
            missed.append("corrected")
        if not changed <= MAX_CLEAN_CHANGED_SHARE:
            missed.append("clean changed")
        facts += [f"corrected {corrected:.3f} (goal >= {MIN_CORRECTED})",
                  f"clean changed {changed:.2%} (goal <= {MAX_CLEAN_CHANGED_SHARE:.0%})"]
        verdict = "met" if not missed else f"NOT met ({', '.join(missed)})"
        if not baselines:  # the ranking goal is relative: nothing to beat, nothing shown
            verdict = f"not checked (no {' or '.join(BASELINES)} run to compare)"
        lines.append(f"noise {level}: goal {verdict}: " + "; ".join(facts))
    return lines


def _real_noise_check(ours: pd.Series) -> str:
    """The real-noise goal: taking curator's proposals pays, and most of them are right."""
    gain, precision = ours["net_gain_share_mean"], ours["proposal_precision_mean"]
    missed = [name for name, ok in (("net gain", gain >= MIN_NET_GAIN_SHARE),
                                    ("proposal precision", precision >= MIN_PROPOSAL_PRECISION))
              if not ok]
    verdict = "met" if not missed else f"NOT met ({', '.join(missed)})"
    return (f"real noise: proposal goal {verdict}: net gain {ours['net_gain_mean']:+.1f} labels "
            f"({gain:+.2%}, goal >= {MIN_NET_GAIN_SHARE:+.0%}); proposal precision {precision:.3f} "
            f"(goal >= {MIN_PROPOSAL_PRECISION})")


def _mean_std(row: dict, name: str, fmt: str = ".3f") -> str:
    mean, std = row[f"{name}_mean"], row[f"{name}_std"]
    if np.isnan(mean):
        return "–"
    spread = fmt.lstrip("+")
    return f"{mean:{fmt}}" if np.isnan(std) else f"{mean:{fmt}} ± {std:{spread}}"
