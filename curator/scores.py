"""Per-sample scores derived from a run's per-epoch records: what review, export and report show.

Conventions (kept everywhere): **higher `suspicion` = the given label is more likely wrong**;
**higher `ambiguity` = the face itself is more uncertain**; `confidence` is the estimated
probability that `proposed_label` is right. Training samples are scored from their
*training-pass* records; the samples of split `holdout` (`--holdout`) from their out-of-sample
predictions, so no extra inference pass is needed. Validation rows are predicted too and only
calibrate. Evidence: docs/BENCHMARKS.md.

- `suspicion` = the mean over all epochs of (2 (1 - p(given)) + max p(other class)) / 3, in
  [0, 1]: the given label's missing probability and the best other class's probability, two to
  one. It orders samples exactly as the average of the given label's mean probability and its
  Area Under the Margin (Pleiss et al. 2020) does. Averaging over the whole run catches labels
  the network only memorises late: it ranked synthetic flips far better than SCN's final
  weight. Of the two, the given label's probability ranked flips on real faces better and the
  margin everything else; this score ranks at least as well as the margin on the faces and
  within 0.005 AUROC of it elsewhere (docs/BENCHMARKS.md, "Which suspicion statistic").
  p is SCN's prediction as its loss trains it, the softmax of the *weighted* logits
  (`weighted_softmax`; plain CE runs have weight 1): a low weight flattens it, so the given
  label counts for less. That ranked wrong labels better than the unweighted softmax in 92 of
  103 SCN runs (docs/BENCHMARKS.md, "Suspicion from the weighted logits"). Held-out
  samples' values are mapped onto the training samples' distribution by quantile, so one
  ranking holds both.
- `ambiguity` = the mean of two percentile ranks within the sample's part: SCN's weight history
  (mean over epochs of 1 - the weight's percentile within its epoch: the attention weight
  measures how uncertain a face is, not whether its label is wrong) and the entropy of the mean
  class probabilities over all epochs. On real annotation noise the blend follows the annotators'
  disagreement (vote entropy) about twice as closely as the weight alone.
- The proposal statistic q(c) of a class is its mean probability p (the weighted softmax, as for
  `suspicion`) over the last `window` epochs in which the sample was trained on its *given*
  label (the run's `proposal_window`, default 5; 0 = all of them): once SCN relabels a sample,
  training pulls it towards the new label and its probabilities stop being independent
  evidence. The last 5 gave the higher net gain (wrong labels fixed minus right ones changed) on
  networks trained from scratch, all epochs on a face-recognition backbone (docs/BENCHMARKS.md,
  "`dlib_resnet` at a lower learning rate, and the proposal window").
- `confidence` = calibrate(q(proposed)): an isotonic map from q to the probability that a class
  is the sample's label, fitted on the held-out part (validation rows and `holdout` samples,
  whose q is out-of-sample) with their labels as targets. A run that holds out fewer than
  MIN_CALIBRATION_SAMPLES (`--holdout 0` and no validation data) keeps q itself, uncalibrated.
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
  right labels (docs/BENCHMARKS.md, "One line on the lead" and "The ratio rule"). The weighted
  softmax ranks proposals better than the plain one.
  `auto` (the default) reads which from the records: where the most suspicious tenth of the
  training samples gained given-label probability over the last 5 epochs (`late_rise`), the
  network had begun to memorise the labels it doubted, and the last epochs no longer argue
  against them: the ratio over every epoch; otherwise the lead over the run's window. Of 138
  cached benchmark runs it switched 31, in nine families of `dlib_resnet` runs; there the ratio
  over every epoch raised the net gain by 0.7-5.0 points of the set on all but one family (-0.3),
  and it switched none of the weak networks on which the ratio changes more right labels than the
  lead (docs/BENCHMARKS.md, "`auto`").
- `ambiguous` = no proposal, and no class, the given one included, reaches q = 0.5, or the face's
  SCN weight history is among the lowest `AMBIGUOUS_SHARE` of its part and the best other
  class's confidence stays under `CONFIDENT_PROPOSAL`: the network cannot tell what the face
  shows, so curator flags it for re-annotation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import runlog
from curator.calibration import MIN_CALIBRATION_SAMPLES, IsotonicMap, fit_isotonic
from curator.config import PROPOSAL_LINES
from curator.errors import RunError

# A face without a proposal whose best class stays under even odds is flagged as ambiguous,
AMBIGUOUS_BELOW = 0.5
# ... and so is each part's lowest-weight fifth,
AMBIGUOUS_SHARE = 0.2
# ... unless the calibrated confidence of the best other class reaches this.
CONFIDENT_PROPOSAL = 0.7
# Rule `auto` proposes by the ratio over every epoch where the SUSPECT_SHARE most suspicious
# samples' given label gained more than MEMORISED_RISE of mean probability over the last
# LATE_EPOCHS epochs (`late_rise`), else by the lead over the run's proposal window.
SUSPECT_SHARE = 0.1
LATE_EPOCHS = 5
MEMORISED_RISE = 0.01
# The attrs of `sample_scores` that say what proposed (`auto` settled), for reports and review.
SETTLED_KEYS = ("proposal_rule", "proposal_window", "late_rise")
# The smallest positive float16 (subnormal): a recorded probability of 0 stands for less.
FLOAT16_TINY = np.float32(2.0 ** -24)


@dataclass(frozen=True)
class Part:
    """One part of a run's samples, epochs first: probs (E, N, K), weights (E, N), and the epochs
    whose records count for proposals (E, N; all True for held-out samples)."""

    sample_id: np.ndarray
    given: np.ndarray
    probs: np.ndarray
    weights: np.ndarray
    evidence: np.ndarray


def sample_scores(run_dir: Path, *, window: int | None = None, rule: str | None = None
                  ) -> pd.DataFrame:
    """One row per scored sample (training and held-out): labels, SCN weights, scores, proposal.
    `window`: the proposal window (0 = every epoch), `rule`: the proposal rule (`auto`, `lead`,
    `ratio`); by default the run's `proposal_window` and `proposal_rule`.

    Columns: sample_id, filepath, split, given_label, scn_label (SCN's label after its own
    relabels), pred_label, pred_prob, scn_weight, scn_weight_history (list), scn_low_epochs,
    suspicion, ambiguity, ambiguous, proposed_label (missing where none), confidence,
    expected_gain, and truth when known. `frame.attrs`: "calibrated" (whether confidence was
    calibrated on the held-out part), "proposal_rule" and "proposal_window" (what proposed, `auto`
    settled) and "late_rise" (`late_rise`, None unless the rule is `auto`).
    """
    run_dir = runlog.require_run(run_dir)
    manifest = runlog.read_manifest(run_dir)
    config = runlog.read_config(run_dir)
    window = config.proposal_window if window is None else window
    rule = config.proposal_rule if rule is None else rule
    epochs = runlog.completed_epochs(run_dir)
    raws = [runlog.read_raw_epoch(run_dir, e).sort_values("sample_id") for e in epochs]
    if not raws:
        raise RunError(f"{run_dir}: no epoch has finished yet; nothing to score")
    k = len(manifest.classes)
    current = np.stack([r["current_label"].to_numpy(np.int64) for r in raws])
    given = raws[-1]["given_label"].to_numpy(np.int64)
    trained = _part(raws, k, evidence=current == given)  # epochs trained on the given label
    means = {}  # the training part's evidence means by window: each pass is made once
    rise = None
    if rule == "auto":
        means = {w: evidence_mean(trained.probs, trained.weights, trained.evidence, w)
                 for w in (0, LATE_EPOCHS)}
        rise = late_rise(means[0], means[LATE_EPOCHS], trained.given)
        rule, window = ("ratio", 0) if rise > MEMORISED_RISE else ("lead", window)
    holdouts = [runlog.read_holdout(run_dir, e) for e in epochs]
    held = (_part([h.sort_values("sample_id") for h in holdouts], k)
            if all(h is not None for h in holdouts) else None)
    q_trained = (means[window] if window in means
                 else evidence_mean(trained.probs, trained.weights, trained.evidence, window))
    calibrate = None
    if held is not None:
        q_held = evidence_mean(held.probs, held.weights, held.evidence, window)
        calibrate = _calibration(held, q_held)
        # validation rows only calibrate; the `holdout` samples are scored
        scored = manifest.table["split"].to_numpy()[held.sample_id] == "holdout"
        held, q_held = _subset(held, scored), q_held[scored]

    train_frame = _score_part(trained, q_trained, calibrate, rule)
    last = raws[-1]
    train_frame["scn_label"] = last["current_label"].to_numpy()
    train_frame["scn_low_epochs"] = (~np.stack([r["high"].to_numpy(bool) for r in raws])).sum(axis=0)
    frames = [train_frame]
    if held is not None and len(held.given):
        held_frame = _score_part(held, q_held, calibrate, rule)
        held_frame["suspicion"] = match_quantiles(held_frame["suspicion"].to_numpy(),
                                                  train_frame["suspicion"].to_numpy())
        held_frame["scn_label"] = held.given
        held_frame["scn_low_epochs"] = 0
        frames.append(held_frame)
    scored = pd.concat(frames, ignore_index=True).sort_values("sample_id", ignore_index=True)
    frame = _named(scored, manifest, calibrated=calibrate is not None)
    frame.attrs.update(dict(zip(SETTLED_KEYS, (rule, window, rise))))
    return frame


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


def suspicion_score(given_mean: np.ndarray, other_mean: np.ndarray) -> np.ndarray:
    """(2 (1 - p(given)) + max p(other class)) / 3 from the all-epoch means of the two
    (`given_and_best_other`)."""
    return (2.0 * (1.0 - given_mean) + other_mean) / 3.0


def given_and_best_other(probs: np.ndarray, given: np.ndarray, weights: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, the means over epochs of p(given) and of the highest probability of another
    class, p = the `weighted_softmax` of probs (epochs, samples, classes) and weights (epochs,
    samples; all 1 for plain CE)."""
    rows = np.arange(probs.shape[1])
    given_total, other_total = np.zeros(probs.shape[1]), np.zeros(probs.shape[1])
    # one epoch at a time: a copy of all epochs is 3x slower at 100,000 samples
    for e, epoch in enumerate(probs):
        others = weighted_softmax(epoch, weights[e])  # a copy: the mask below writes into it
        given_total += others[rows, given]
        others[rows, given] = -np.inf
        other_total += others.max(axis=1)
    return given_total / len(probs), other_total / len(probs)


def weighted_softmax(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """softmax(w z) from p = softmax(z) (N, K) and the weights w (N,): p^w / sum p^w, the
    probabilities of SCN's weighted logits, as a new float32 array. All-unit weights (plain CE)
    return p as recorded; a recorded 0 counts as the smallest float16 value, the records' dtype."""
    out = probs.astype(np.float32)
    if np.all(weights == 1):
        return out
    np.log(np.maximum(out, FLOAT16_TINY, out=out), out=out)
    out *= weights[:, None]
    out -= out.max(axis=1, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def low_weight_score(weights: np.ndarray) -> np.ndarray:
    """Mean over epochs of 1 - percentile rank of the weight within its epoch (ties share ranks)."""
    return 1.0 - np.mean([percentile_rank(epoch) for epoch in weights], axis=0)


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Rank / n of each value, ties sharing their average rank (pandas' `rank(pct=True)`)."""
    _, where, counts = np.unique(values, return_inverse=True, return_counts=True)
    average = np.cumsum(counts) - (counts - 1) / 2.0
    return average[where] / len(values)


def ambiguity_score(low_weight: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Mean of the percentile ranks of `low_weight_score` (N,) and of the entropy of the
    all-epoch mean probabilities of probs (E, N, K). Ties share ranks."""
    mean = probs.mean(axis=0).astype(np.float64)
    entropy = -(mean * np.log(np.clip(mean, 1e-12, 1.0))).sum(axis=1)
    ranks = pd.DataFrame({"weight": low_weight, "entropy": entropy}).rank(pct=True)
    return ranks.mean(axis=1).to_numpy()


def ambiguous_mask(q: np.ndarray, low_weight: np.ndarray, confidence: np.ndarray,
                   proposed: np.ndarray) -> np.ndarray:
    """Faces to flag for re-annotation: those without a proposal (`proposed` -1) where no class
    of q (N, K) reaches AMBIGUOUS_BELOW, or whose `low_weight_score` is among the part's highest
    AMBIGUOUS_SHARE while the `confidence` of the best other class stays under
    CONFIDENT_PROPOSAL."""
    lowest = low_weight > np.quantile(low_weight, 1.0 - AMBIGUOUS_SHARE)
    unsure = (q.max(axis=1) < AMBIGUOUS_BELOW) | (lowest & (confidence < CONFIDENT_PROPOSAL))
    return unsure & (proposed == runlog.NO_LABEL)


def evidence_mean(probs: np.ndarray, weights: np.ndarray, evidence: np.ndarray, window: int
                  ) -> np.ndarray:
    """Per sample, the mean `weighted_softmax` of probs (E, N, K) and weights (E, N) over its last
    `window` epochs with evidence (window 0: all of them; all epochs of a sample without any, so
    every sample gets a value): (N, K)."""
    later = np.cumsum(evidence[::-1], axis=0)[::-1]  # evidence epochs from this one to the end
    chosen = evidence & (later <= (window or len(evidence)))
    chosen[:, ~chosen.any(axis=0)] = True
    total = np.zeros(probs.shape[1:])
    for epoch, weight, rows in zip(probs, weights, chosen):  # one epoch at a time, as above
        if rows.any():
            total[rows] += weighted_softmax(epoch[rows], weight[rows])
    return total / chosen.sum(axis=0)[:, None]


def best_other_class(q: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Per row of q (N, K), the class with the highest value other than the given one."""
    others = q.copy()
    others[np.arange(len(given)), given] = -np.inf
    return others.argmax(axis=1)


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


def match_quantiles(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each value replaced by the reference's quantile at the value's own percentile."""
    if len(values) == 0:
        return values.astype(np.float64)
    percentile = (pd.Series(values).rank(method="average").to_numpy() - 0.5) / len(values)
    return np.quantile(reference, percentile)


def _part(frames: list[pd.DataFrame], k: int, evidence: np.ndarray | None = None) -> Part:
    """A Part from per-epoch record frames sorted by sample_id (every epoch is evidence unless
    `evidence` says otherwise)."""
    probs = np.stack([f[[f"prob_{c}" for c in range(k)]].to_numpy(np.float32) for f in frames])
    weights = np.stack([f["weight"].to_numpy(np.float32) for f in frames])
    last = frames[-1]
    return Part(last["sample_id"].to_numpy(), last["given_label"].to_numpy(np.int64), probs,
                weights, np.ones(weights.shape, bool) if evidence is None else evidence)


def _subset(part: Part, rows: np.ndarray) -> Part:
    """The samples of `part` selected by the mask `rows`."""
    return Part(part.sample_id[rows], part.given[rows], part.probs[:, rows], part.weights[:, rows],
                part.evidence[:, rows])


def _calibration(held: Part, q: np.ndarray) -> IsotonicMap | None:
    """The isotonic map q -> P(class is the label), fitted on the held-out part's q (N, K) of
    every class; None when the holdout is too small to trust."""
    if len(held.given) < MIN_CALIBRATION_SAMPLES:
        return None
    is_label = np.zeros_like(q, dtype=bool)
    is_label[np.arange(len(held.given)), held.given] = True
    return fit_isotonic(q.ravel(), is_label.ravel())


def _score_part(part: Part, q: np.ndarray, calibrate: IsotonicMap | None, rule: str
                ) -> pd.DataFrame:
    """The scores of one part, from its records, its proposal statistic q (N, K) and the
    proposal rule."""
    low_weight = low_weight_score(part.weights)
    given_mean, other_mean = given_and_best_other(part.probs, part.given, part.weights)
    proposed, confidence, gain = propose(q, part.given, calibrate, rule)
    ambiguous = ambiguous_mask(q, low_weight, confidence, proposed)
    final = part.probs[-1]
    pred = final.argmax(axis=1)
    return pd.DataFrame({
        "sample_id": part.sample_id,
        "given_label": part.given,
        "pred_label": pred,
        "pred_prob": final[np.arange(len(pred)), pred],
        "scn_weight": part.weights[-1],
        "scn_weight_history": list(part.weights.T),
        "suspicion": suspicion_score(given_mean, other_mean),
        "ambiguity": ambiguity_score(low_weight, part.probs),
        "ambiguous": ambiguous,
        "proposed_label": proposed,
        "confidence": np.where(proposed >= 0, confidence, np.nan),
        "expected_gain": np.where(proposed >= 0, gain, np.nan),
    })


def _named(scored: pd.DataFrame, manifest, *, calibrated: bool) -> pd.DataFrame:
    """Class indices as names, plus filepath, split and truth from the manifest."""
    table = manifest.table.set_index("sample_id").loc[scored["sample_id"]]
    classes = list(manifest.classes)
    frame = pd.DataFrame({"sample_id": scored["sample_id"].to_numpy(),
                          "filepath": table["filepath"].to_numpy(),
                          "split": table["split"].to_numpy()})
    for column in ("given_label", "scn_label", "pred_label"):
        frame[column] = pd.Categorical.from_codes(scored[column].to_numpy(np.int64), classes)
    for column in ("pred_prob", "scn_weight", "scn_weight_history", "scn_low_epochs",
                   "suspicion", "ambiguity", "ambiguous"):
        frame[column] = scored[column].to_numpy()
    frame["proposed_label"] = pd.Categorical.from_codes(scored["proposed_label"].to_numpy(np.int64),
                                                        classes)
    frame["confidence"] = scored["confidence"].to_numpy()
    frame["expected_gain"] = scored["expected_gain"].to_numpy()
    if "truth" in table:
        frame["truth"] = pd.Categorical(table["truth"].to_numpy(), classes)
    frame.attrs["calibrated"] = calibrated
    return frame
