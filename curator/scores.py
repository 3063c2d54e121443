"""Per-sample scores derived from a run's per-epoch records: what review, export and report show.

Conventions (kept everywhere): **higher `suspicion` = the given label is more likely wrong**;
**higher `ambiguity` = the face itself is more uncertain**; `confidence` is the estimated
probability that `proposed_label` is right. Training samples are scored from their
*training-pass* records; the samples of split `holdout` (`--holdout`) from their out-of-sample
predictions, so no extra inference pass is needed. Validation rows are predicted too and only
calibrate. Evidence: docs/BENCHMARKS.md.

- `suspicion` (`curator.suspicion`): how likely the given label is wrong, from the training-pass
  probabilities of every epoch.
- `ambiguity` = the mean of two percentile ranks within the sample's part: SCN's weight history
  (mean over epochs of 1 - the weight's percentile within its epoch: the attention weight
  measures how uncertain a face is, not whether its label is wrong) and the entropy of the mean
  class probabilities over all epochs. On real annotation noise the blend follows the annotators'
  disagreement (vote entropy) about twice as closely as the weight alone.
- `proposed_label`, `confidence`, `expected_gain` (`curator.proposals`): the best other class by
  its mean probability q over the run's proposal window, where it beats the given label's by
  the run's proposal rule; `confidence` is calibrate(q(proposed)), an isotonic map from q to the
  probability that a class is the sample's label, fitted on the held-out part (validation rows
  and `holdout` samples, whose q is out-of-sample) with their labels as targets. A run that holds
  out fewer than MIN_CALIBRATION_SAMPLES (`--holdout 0` and no validation data) keeps q itself,
  uncalibrated.
- `ambiguous` = no proposal, and no class, the given one included, reaches q = 0.5, or the face's
  SCN weight history is among the lowest `AMBIGUOUS_SHARE` of its part and the best other
  class's confidence stays under `CONFIDENT_PROPOSAL`: the network cannot tell what the face
  shows, so curator flags it for re-annotation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from curator import runlog
from curator.calibration import MIN_CALIBRATION_SAMPLES, IsotonicMap, fit_isotonic
from curator.errors import RunError
from curator.proposals import SETTLED_KEYS, evidence_mean, propose, settle_rule
from curator.suspicion import given_and_best_other, suspicion_score

# A face without a proposal whose best class stays under even odds is flagged as ambiguous,
AMBIGUOUS_BELOW = 0.5
# ... and so is each part's lowest-weight fifth,
AMBIGUOUS_SHARE = 0.2
# ... unless the calibrated confidence of the best other class reaches this.
CONFIDENT_PROPOSAL = 0.7


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
    settled) and "late_rise" (`curator.proposals.late_rise`, None unless the rule is `auto`).
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
    # the training part's evidence mean per window, each computed once
    q_of = functools.cache(lambda w: evidence_mean(trained.probs, trained.weights,
                                                   trained.evidence, w))
    rule, window, rise = settle_rule(rule, window, q_of, trained.given)
    q_trained = q_of(window)
    holdouts = [runlog.read_holdout(run_dir, e) for e in epochs]
    held = (_part([h.sort_values("sample_id") for h in holdouts], k)
            if all(h is not None for h in holdouts) else None)
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
