"""How well a run finds and fixes noisy labels: pure evaluation maths over NumPy arrays.

Used by `curator report`, `curator evaluate` and the benchmarks. Conventions:

- Labels are integer class indices; **-1 means "no label"** (no proposal). Rows whose truth is
  unknown must be dropped by the caller before calling these functions.
- A *score* ranks samples: **higher = more likely positive** (for noise detection, positive =
  the given label is wrong, and the score is `suspicion`).
- Ties never depend on input order: AUROC gives tied pairs half credit and precision@k takes
  the tied group at the cut-off in expectation.
- A rate with an empty denominator (no proposals, no flipped labels) is NaN, not 0.
"""

from __future__ import annotations

import numpy as np

NO_LABEL = -1


def auroc(scores: np.ndarray, is_positive: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a random positive > that of a random negative).

    Tied pairs count one half (Mann-Whitney U). NaN when either class is absent.
    """
    scores, positive = _scores_and_flags(scores, is_positive)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(scores: np.ndarray, is_positive: np.ndarray, k: int) -> float:
    """Share of positives among the `k` highest scores (all samples when k > n).

    Samples tied with the k-th score share the remaining places in expectation.
    """
    scores, positive = _scores_and_flags(scores, is_positive)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(scores) == 0:
        return float("nan")
    k = min(k, len(scores))
    cutoff = np.sort(scores)[::-1][k - 1]
    above = scores > cutoff
    tied = scores == cutoff
    hits = positive[above].sum() + positive[tied].sum() * (k - above.sum()) / tied.sum()
    return float(hits / k)


def precision_recall_curve(scores: np.ndarray, is_positive: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds), one point per distinct score, highest threshold first.

    The point for threshold t flags every sample with score >= t.
    """
    scores, positive = _scores_and_flags(scores, is_positive)
    order = np.argsort(-scores, kind="mergesort")
    ranked_scores = scores[order]
    group_end = np.flatnonzero(np.r_[ranked_scores[1:] != ranked_scores[:-1], True])[:len(scores)]
    true_pos = np.cumsum(positive[order])[group_end]
    n_pos = positive.sum()
    recall = true_pos / n_pos if n_pos else np.full(len(group_end), np.nan)
    return true_pos / (group_end + 1), recall, ranked_scores[group_end]


def average_precision(scores: np.ndarray, is_positive: np.ndarray) -> float:
    """Area under the step precision-recall curve: sum of precision x recall increment."""
    precision, recall, _ = precision_recall_curve(scores, is_positive)
    if len(recall) == 0 or np.isnan(recall).all():
        return float("nan")
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def proposal_precision_recall(given: np.ndarray, proposed: np.ndarray, truth: np.ndarray
                              ) -> tuple[float, float]:
    """(precision, recall) of relabel proposals (-1 = none).

    precision = share of proposals equal to the truth; recall = share of flipped samples
    (given != truth) whose proposal equals the truth.
    """
    given, proposed, truth = _labels(given, proposed, truth)
    has_proposal = proposed != NO_LABEL
    right = proposed == truth
    precision = right[has_proposal].mean() if has_proposal.any() else np.nan
    return float(precision), flips_corrected(given, np.where(has_proposal, proposed, given), truth)


def flips_corrected(given: np.ndarray, final: np.ndarray, truth: np.ndarray) -> float:
    """Share of flipped samples (given != truth) whose final label equals the truth."""
    given, final, truth = _labels(given, final, truth)
    flipped = given != truth
    return float((final[flipped] == truth[flipped]).mean()) if flipped.any() else float("nan")


def clean_labels_changed(given: np.ndarray, final: np.ndarray, truth: np.ndarray) -> int:
    """Number of correct given labels (given == truth) that the final label changed."""
    given, final, truth = _labels(given, final, truth)
    return int(((given == truth) & (final != given)).sum())


def net_gain(given: np.ndarray, final: np.ndarray, truth: np.ndarray) -> int:
    """Correct labels after minus correct labels before (positive = the data got cleaner)."""
    given, final, truth = _labels(given, final, truth)
    return int((final == truth).sum() - (given == truth).sum())


def best_correction(given: np.ndarray, candidate: np.ndarray, strength: np.ndarray,
                    truth: np.ndarray, *, max_clean_share: float) -> tuple[float, int]:
    """The most a threshold on `strength` can correct: (share of flipped samples fixed, right
    labels changed) for the best cut that changes at most `max_clean_share` of the right labels.

    Every sample proposes `candidate` (a class other than `given`); the proposals taken are those
    with strength at or above a threshold, so tied strengths are taken together. An upper bound
    for any rule that ranks proposals by `strength`: the threshold is chosen knowing the truth.
    """
    given, candidate, truth = _labels(given, candidate, truth)
    flipped = given != truth
    if not flipped.any():
        return float("nan"), 0
    order = np.argsort(-np.asarray(strength, np.float64), kind="stable")
    fixes = np.cumsum((flipped & (candidate == truth))[order])
    breaks = np.cumsum(~flipped[order])
    ends = np.flatnonzero(np.diff(np.asarray(strength, np.float64)[order], append=-np.inf) != 0)
    allowed = ends[breaks[ends] <= max_clean_share * (~flipped).sum()]
    if len(allowed) == 0:
        return 0.0, 0
    best = allowed[np.argmax(fixes[allowed])]
    return float(fixes[best] / flipped.sum()), int(breaks[best])


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 10
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean confidence, accuracy, count) per equal-width confidence bin; NaN for empty bins.

    Bin i holds confidences in (i/n, (i+1)/n]; the first bin also holds 0.
    """
    confidence, correct = _scores_and_flags(confidence, correct)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    bins = np.digitize(confidence, inner_edges, right=True)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, confidence, n_bins) / count
        accuracy = np.bincount(bins, correct.astype(float), n_bins) / count
    return mean_confidence, accuracy, count


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 10
                               ) -> float:
    """Count-weighted mean |accuracy - confidence| over equal-width bins; NaN without samples."""
    mean_confidence, accuracy, count = reliability_bins(confidence, correct, n_bins=n_bins)
    if count.sum() == 0:
        return float("nan")
    filled = count > 0
    gaps = np.abs(accuracy[filled] - mean_confidence[filled])
    return float(np.sum(gaps * count[filled]) / count.sum())


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: rows = true class, columns = predicted class."""
    truth, predicted = _labels(truth, predicted)
    return np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes
                       ).reshape(n_classes, n_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Share of each true class predicted right (the diagonal over row sums); NaN for empty rows."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(confusion) / confusion.sum(axis=1)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    starts = np.r_[0, np.flatnonzero(np.diff(values[order])) + 1]
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def _scores_and_flags(scores: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    flags = np.asarray(flags, dtype=bool).ravel()
    if scores.shape != flags.shape:
        raise ValueError(f"scores and flags differ in length: {len(scores)} vs {len(flags)}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; drop those samples first")
    return scores, flags


def _labels(*arrays: np.ndarray) -> list[np.ndarray]:
    arrays = [np.asarray(a, dtype=np.int64).ravel() for a in arrays]
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"label arrays differ in length: {[len(a) for a in arrays]}")
    return arrays
