"""Which correction to propose for a sample, and by which rule, from its per-epoch records.

- The proposal statistic q(c) of a class is its mean probability p (SCN's weighted softmax, as
  for `suspicion`) over the last `window` epochs in which the sample was trained on its *given*
  label (the run's `proposal_window`, default 5; 0 = all of them): once SCN relabels a sample,
  training pulls it towards the new label and its probabilities stop being independent
  evidence. The last 5 gave the higher net gain (wrong labels fixed minus right ones changed) on
  networks trained from scratch, all epochs on a face-recognition backbone (docs/BENCHMARKS.md,
  "`dlib_resnet` at a lower learning rate, and the proposal window").
- `confidence` = calibrate(q(proposed)): an isotonic map from q to the probability that a class
  is the sample's label, fitted on the run's held-out part (`curator.scores`); uncalibrated, q.
- `proposed_label` = the class other than the given one with the highest q, proposed where its
  q beats the given label's by the run's `proposal_rule` and its expected gain
  calibrate(q(proposed)) - calibrate(q(given)) is positive; `expected_gain` is that difference.
  `lead`: q(proposed) - q(given) > 0.25 (`config.PROPOSAL_LINES`). Against the earlier
  rule (a positive gain, no proposal for ambiguous faces) it fixed more wrong labels on every
  family of benchmark runs and raised the net gain on all but one (level there). `ratio`:
  q(proposed) / q(given) > 2.2. A rightly labelled face that the network confuses with one other
  class keeps a larger q(given) than a wrong label does at the same lead, so on a sharp network
  (`dlib_resnet`'s recipe) the ratio fixes more wrong labels for about as many right ones
  changed; on a weak network, whose q(given) is small for right labels too, it changes more
  right labels (docs/BENCHMARKS.md, "One line on the lead" and "The ratio rule").
- `auto` (the default) reads which from the records (`settle_rule`): where the most suspicious
  tenth of the training samples gained given-label probability over the last 5 epochs
  (`late_rise`), the network had begun to memorise the labels it doubted, and the last epochs no
  longer argue against them: the ratio over every epoch; otherwise the lead over the run's
  window. Of 138 cached benchmark runs it switched 31, in nine families of `dlib_resnet` runs;
  there the ratio over every epoch raised the net gain by 0.7-5.0 points of the set on all but
  one family (-0.3), and it switched none of the weak networks on which the ratio changes more
  right labels than the lead (docs/BENCHMARKS.md, "`auto`").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from curator import runlog
from curator.calibration import IsotonicMap
from curator.config import PROPOSAL_LINES
from curator.suspicion import best_other_class, suspicion_score, weighted_softmax

# Rule `auto` proposes by the ratio over every epoch where the SUSPECT_SHARE most suspicious
# samples' given label gained more than MEMORISED_RISE of mean probability over the last
# LATE_EPOCHS epochs (`late_rise`), else by the lead over the run's proposal window.
SUSPECT_SHARE = 0.1
LATE_EPOCHS = 5
MEMORISED_RISE = 0.01
# The attrs of `curator.scores.sample_scores` that say what proposed (`auto` settled).
SETTLED_KEYS = ("proposal_rule", "proposal_window", "late_rise")


def settle_rule(rule: str, window: int, q_of: Callable[[int], np.ndarray], given: np.ndarray
                ) -> tuple[str, int, float | None]:
    """The (rule, window, late rise) to propose by: `rule` and `window` as given unless the rule
    is `auto`, which takes ("ratio", 0) past MEMORISED_RISE and ("lead", window) otherwise.
    `q_of(w)` is the training samples' `evidence_mean` over window w; the rise is None unless
    the rule is `auto`."""
    if rule != "auto":
        return rule, window, None
    rise = late_rise(q_of(0), q_of(LATE_EPOCHS), given)
    return ("ratio", 0, rise) if rise > MEMORISED_RISE else ("lead", window, rise)


def late_rise(every: np.ndarray, late: np.ndarray, given: np.ndarray) -> float:
    """How far the given label's mean probability over each sample's last LATE_EPOCHS epochs
    (`late`, N x K, `evidence_mean` with that window) exceeds its mean over every epoch (`every`),
    averaged over the SUSPECT_SHARE most suspicious samples (by `suspicion_score` of the
    every-epoch means). Positive: late in training the network began to memorise the labels it
    had doubted."""
    rows = np.arange(len(given))
    best = best_other_class(every, given)
    suspicion = suspicion_score(every[rows, given], every[rows, best])
    suspects = np.argsort(-suspicion, kind="stable")[:max(1, round(SUSPECT_SHARE * len(rows)))]
    return float((late[suspects, given[suspects]] - every[suspects, given[suspects]]).mean())


def evidence_mean(probs: np.ndarray, weights: np.ndarray, evidence: np.ndarray, window: int
                  ) -> np.ndarray:
    """Per sample, the mean `weighted_softmax` of probs (E, N, K) and weights (E, N) over its last
    `window` epochs with evidence (window 0: all of them; all epochs of a sample without any, so
    every sample gets a value): (N, K)."""
    later = np.cumsum(evidence[::-1], axis=0)[::-1]  # evidence epochs from this one to the end
    chosen = evidence & (later <= (window or len(evidence)))
    chosen[:, ~chosen.any(axis=0)] = True
    total = np.zeros(probs.shape[1:])
    # one epoch at a time: a copy of all epochs is 3x slower at 100,000 samples
    for epoch, weight, rows in zip(probs, weights, chosen):
        if rows.any():
            total[rows] += weighted_softmax(epoch[rows], weight[rows])
    return total / chosen.sum(axis=0)[:, None]


def proposal_margin(q_best: np.ndarray, q_given: np.ndarray, rule: str) -> np.ndarray:
    """How far q_best beats q_given by the proposal `rule`: their difference (`lead`) or their
    ratio (`ratio`; infinite where q_given is 0)."""
    if rule == "lead":
        return q_best - q_given
    if rule == "ratio":
        with np.errstate(divide="ignore"):
            return q_best / q_given
    raise ValueError(f"unknown proposal rule {rule!r}; choose one of: {', '.join(PROPOSAL_LINES)}")


def propose(q: np.ndarray, given: np.ndarray, calibrate: IsotonicMap | None, rule: str = "lead"
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best other class by `q` (N, K), where its `proposal_margin` over the given label passes the
    rule's line in PROPOSAL_LINES and its expected gain over the given label is positive.

    Returns (proposed class index or -1, confidence of the best other class, expected gain).
    """
    rows = np.arange(len(given))
    best = best_other_class(q, given)
    scale = calibrate if calibrate is not None else (lambda x: np.asarray(x, np.float64))
    confidence = scale(q[rows, best])
    gain = confidence - scale(q[rows, given])
    beats = proposal_margin(q[rows, best], q[rows, given], rule) > PROPOSAL_LINES[rule]
    return np.where(beats & (gain > 0), best, runlog.NO_LABEL), confidence, gain


def settled_rule(frame: pd.DataFrame) -> dict[str, Any]:
    """The SETTLED_KEYS of a `sample_scores` frame's attrs: what proposed, `auto` settled."""
    return {key: frame.attrs[key] for key in SETTLED_KEYS}


def describe_rule(settled: Mapping[str, Any]) -> str:
    """What proposed, in words, from `settled_rule`: e.g. "ratio, every epoch; auto: late rise
    +0.093"."""
    window = settled["proposal_window"]
    text = f"{settled['proposal_rule']}, " + (f"last {window} epochs" if window else "every epoch")
    if settled["late_rise"] is not None:
        text += f"; auto: late rise {settled['late_rise']:+.3f}"
    return text
