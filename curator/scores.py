"""Per-sample scores derived from a run's per-epoch records: what review, export and report show.

Conventions (kept everywhere): **higher `suspicion` = the given label is more likely wrong**;
**higher `ambiguity` = the face itself is more uncertain**; `confidence` is the estimated
probability that `proposed_label` is right. All scores come from the *training-pass* records,
so no extra inference pass is needed.

- `suspicion` = 1 - mean over all epochs of the training-pass probability of the given label.
  Averaging over the whole run catches labels the network only memorises late (cf. AUM,
  Pleiss et al. 2020); it ranked synthetic flips far better than SCN's final weight.
- `ambiguity` = mean over epochs of 1 - (the sample's weight percentile within its epoch): SCN's
  attention weight measures how uncertain a face is, not whether its label is wrong.
- `proposed_label` = the class other than the given one with the highest mean probability over
  the last `window` epochs; proposed only where that mean beats the given label's mean (the
  proposal is expected to be right more often than the label it replaces) and the face is not
  ambiguous. `confidence` is that mean probability.
- `ambiguous` = no class, the given one included, reaches a mean probability of 0.5 over the
  last `window` epochs: the network cannot tell what the face shows, so curator proposes no
  relabel and flags the face for re-annotation instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curator import runlog
from curator.errors import RunError

PROPOSAL_WINDOW = 5
# A face whose best class stays under even odds is ambiguous: no proposal, flagged instead.
AMBIGUOUS_BELOW = 0.5


def sample_scores(run_dir: Path, *, window: int = PROPOSAL_WINDOW) -> pd.DataFrame:
    """One row per training sample: labels, SCN weights, scores and the proposal.

    Columns: sample_id, filepath, split, given_label, scn_label (SCN's label after its own
    relabels), pred_label, pred_prob, scn_weight, scn_weight_history (list), scn_low_epochs,
    suspicion, ambiguity, ambiguous, proposed_label (missing where none), confidence, and truth
    when known.
    """
    run_dir = runlog.require_run(run_dir)
    manifest = runlog.read_manifest(run_dir)
    epochs = runlog.completed_epochs(run_dir)
    raws = [runlog.read_raw_epoch(run_dir, e).sort_values("sample_id") for e in epochs]
    if not raws:
        raise RunError(f"{run_dir}: no epoch has finished yet; nothing to score")
    k = len(manifest.classes)
    probs = np.stack([r[[f"prob_{c}" for c in range(k)]].to_numpy(np.float32) for r in raws])
    weights = np.stack([r["weight"].to_numpy(np.float32) for r in raws])
    high = np.stack([r["high"].to_numpy(bool) for r in raws])
    last = raws[-1]
    given = last["given_label"].to_numpy(np.int64)

    suspicion = suspicion_score(probs, given)
    ambiguous = probs[-window:].mean(axis=0).max(axis=1) < AMBIGUOUS_BELOW
    proposed, confidence = propose(probs[-window:], given)
    proposed[ambiguous] = runlog.NO_LABEL
    ids = last["sample_id"].to_numpy()
    table = manifest.table.set_index("sample_id").loc[ids]
    classes = list(manifest.classes)
    names = pd.Categorical.from_codes
    frame = pd.DataFrame({
        "sample_id": ids,
        "filepath": table["filepath"].to_numpy(),
        "split": table["split"].to_numpy(),
        "given_label": names(given, classes),
        "scn_label": names(last["current_label"].to_numpy(), classes),
        "pred_label": names(last["pred_label"].to_numpy(), classes),
        "pred_prob": probs[-1, np.arange(len(ids)), last["pred_label"].to_numpy()],
        "scn_weight": weights[-1],
        "scn_weight_history": list(weights.T),
        "scn_low_epochs": (~high).sum(axis=0),
        "suspicion": suspicion,
        "ambiguity": ambiguity_score(weights),
        "ambiguous": ambiguous,
        "proposed_label": names(proposed, classes),
        "confidence": np.where(proposed >= 0, confidence, np.nan),
    })
    if "truth" in table:
        frame["truth"] = pd.Categorical(table["truth"].to_numpy(), classes)
    return frame


def suspicion_score(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """1 - mean over epochs of p(given label); probs is (epochs, samples, classes)."""
    rows = np.arange(probs.shape[1])
    return 1.0 - probs[:, rows, given].mean(axis=0)


def ambiguity_score(weights: np.ndarray) -> np.ndarray:
    """Mean over epochs of 1 - percentile rank of the weight within its epoch (ties share ranks)."""
    ranks = pd.DataFrame(weights.T).rank(axis=0, pct=True).to_numpy()
    return 1.0 - ranks.mean(axis=1)


def propose(probs: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best other class by mean probability, where it beats the given label; -1 where it does not.

    Returns (proposed class index or -1, that class's mean probability).
    """
    mean = probs.mean(axis=0)
    rows = np.arange(len(given))
    others = mean.copy()
    others[rows, given] = -np.inf
    best = others.argmax(axis=1)
    best_prob = mean[rows, best]
    proposed = np.where(best_prob > mean[rows, given], best, runlog.NO_LABEL)
    return proposed, best_prob
