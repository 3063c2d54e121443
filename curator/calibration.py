"""Isotonic calibration: a monotone map from a score in [0, 1] to the probability of an event.

curator calibrates its proposal `confidence` with it (see `curator.scores`): the score is a
class's mean probability over the last epochs, the event is "this class is the sample's label",
and the map is fitted on the run's held-out part (its validation split, or a `--holdout` share
of the training data), whose probabilities are out-of-sample.
Pool-adjacent-violators (Barlow et al. 1972), in numpy: no extra dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Fewer held-out samples than this calibrate nothing: confidence stays the raw statistic.
MIN_CALIBRATION_SAMPLES = 50


@dataclass(frozen=True)
class IsotonicMap:
    """A non-decreasing step map, linearly interpolated between the centres of its blocks."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of `scores` (any shape); clamped at the ends of the fit."""
        return np.interp(np.asarray(scores, np.float64), self.x, self.y)


def fit_isotonic(scores: np.ndarray, events: np.ndarray) -> IsotonicMap:
    """Least-squares non-decreasing fit of `events` (0/1) on `scores` by pool-adjacent-violators.

    Each final block contributes one point (mean score, event rate), so the map interpolates
    between block centres. Needs at least one score.
    """
    scores = np.asarray(scores, np.float64).ravel()
    events = np.asarray(events, np.float64).ravel()
    if scores.size == 0 or scores.size != events.size:
        raise ValueError("fit_isotonic needs as many events as scores, and at least one")
    values, where = np.unique(scores, return_inverse=True)  # equal scores share one block
    hits = np.bincount(where, weights=events)
    sizes = np.bincount(where).astype(np.float64)
    sums_x, sums_y, counts = [], [], []
    for v, h, n in zip(values, hits, sizes):
        sums_x.append(v * n); sums_y.append(h); counts.append(n)
        while len(counts) > 1 and sums_y[-2] / counts[-2] >= sums_y[-1] / counts[-1]:
            sx, sy, c = sums_x.pop(), sums_y.pop(), counts.pop()
            sums_x[-1] += sx; sums_y[-1] += sy; counts[-1] += c
    counts_ = np.array(counts)
    return IsotonicMap(np.array(sums_x) / counts_, np.array(sums_y) / counts_)
