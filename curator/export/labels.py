"""The cleaned label table: each sample's final label and how it was decided.

`status` says where `final_label` came from:

| status     | final_label | meaning                                                         |
| ---------- | ----------- | --------------------------------------------------------------- |
| unchanged  | original    | SCN proposed nothing and nobody changed the label               |
| pending    | original    | SCN proposed a label; nobody decided yet (and no policy took it) |
| auto       | proposed    | the proposal was taken by `--policy accept-proposals`           |
| accepted   | proposed    | a reviewer accepted the proposal                                 |
| rejected   | original    | a reviewer rejected the proposal                                 |
| edited     | reviewed    | a reviewer set the label by hand                                 |
| ambiguous  | original    | no label is right enough (flagged by curator or by a reviewer): |
|            |             | re-annotate; `--ambiguous drop` leaves these rows out            |
| held-out   | original    | a validation/test sample: not trained on, never scored (it only  |
|            |             | calibrates `confidence`)                                         |

A policy only acts on `pending` samples: review decisions always win. Every proposal has a
positive expected gain (calibrated confidence of the proposal minus that of the given label,
`curator.scores`), so taking them all is expected to add right labels; `--min-confidence` trades
some of that gain for precision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curator.data.manifest import Manifest
from curator.errors import CuratorError, ReviewError

POLICIES = ("keep", "accept-proposals")
AMBIGUOUS_CHOICES = ("keep", "drop", "list")
# The statuses a review dataset can hold (curator.review.schema.STATUSES, without importing FiftyOne).
REVIEW_STATUSES = ("pending", "accepted", "rejected", "edited", "ambiguous")
STATUSES = ("unchanged", "pending", "auto", "accepted", "rejected", "edited", "ambiguous",
            "held-out")
SCORE_COLUMNS = ("scn_weight", "suspicion", "ambiguity", "confidence", "expected_gain")


def cleaned_labels(scores: pd.DataFrame, manifest: Manifest, *,
                   decisions: pd.DataFrame | None = None, policy: str = "keep",
                   min_confidence: float | None = None) -> pd.DataFrame:
    """One row per sample of `manifest`: sample_id, filepath, split, original_label,
    proposed_label, final_label, status and the scores of `curator.scores.sample_scores`.

    `decisions` (sample_id, review_status, reviewed_label) come from review; samples missing
    from it are pending. Held-out samples (not in `scores`) keep their label.
    """
    check_policy(policy, min_confidence)
    original = scores["given_label"].to_numpy(dtype=object)
    proposed = scores["proposed_label"].to_numpy(dtype=object, na_value=None)
    has_proposal = scores["proposed_label"].notna().to_numpy()
    status, reviewed = _review_status(scores, decisions, manifest.classes)
    status[(status == "pending") & scores["ambiguous"].to_numpy(bool)] = "ambiguous"
    status[(status == "pending") & ~has_proposal] = "unchanged"
    if policy == "accept-proposals":
        sure = scores["confidence"].to_numpy() >= (min_confidence or 0.0)
        status[(status == "pending") & has_proposal & sure] = "auto"
    final = original.copy()
    take_proposal = np.isin(status, ("accepted", "auto")) & has_proposal
    final[take_proposal] = proposed[take_proposal]
    final[status == "edited"] = reviewed[status == "edited"]
    table = pd.DataFrame({
        "sample_id": scores["sample_id"].to_numpy(),
        "filepath": scores["filepath"].to_numpy(),
        "split": scores["split"].to_numpy(),
        "original_label": original,
        "proposed_label": proposed,
        "final_label": final,
        "status": status,
        **{column: scores[column].to_numpy() for column in SCORE_COLUMNS},
    })
    held_out = _held_out(manifest, table["sample_id"])
    return pd.concat([table, held_out], ignore_index=True) if len(held_out) else table


def check_policy(policy: str, min_confidence: float | None, ambiguous: str = "keep") -> None:
    """Raise CuratorError for an unknown policy or a --min-confidence it cannot use."""
    if ambiguous not in AMBIGUOUS_CHOICES:
        raise CuratorError(f"unknown --ambiguous {ambiguous!r}; choose one of: "
                           f"{', '.join(AMBIGUOUS_CHOICES)}")
    if policy not in POLICIES:
        raise CuratorError(f"unknown --policy {policy!r}; choose one of: {', '.join(POLICIES)}")
    if min_confidence is None:
        return
    if policy != "accept-proposals":
        raise CuratorError("--min-confidence only limits --policy accept-proposals; add that "
                           "policy or drop --min-confidence")
    if not 0.0 <= min_confidence <= 1.0:
        raise CuratorError(f"--min-confidence must lie in [0, 1]; got {min_confidence}")


def expected_net_gain(table: pd.DataFrame) -> float:
    """Expected number of labels made right minus made wrong by the proposals taken."""
    taken = np.isin(table["status"], ("auto", "accepted"))
    return float(table.loc[taken, "expected_gain"].fillna(0.0).sum())


def label_changes(table: pd.DataFrame) -> pd.DataFrame:
    """Samples whose final label differs from the original, counted per (original, final) pair."""
    changed = table[table["final_label"] != table["original_label"]]
    counts = changed.groupby(["original_label", "final_label"]).size().rename("count")
    return counts.reset_index().sort_values(["count", "original_label"], ascending=[False, True],
                                            ignore_index=True)


def _review_status(scores: pd.DataFrame, decisions: pd.DataFrame | None,
                   classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(status, reviewed_label) per row of `scores`; pending where nobody decided."""
    if decisions is None:
        return np.full(len(scores), "pending", dtype=object), np.full(len(scores), None, dtype=object)
    by_id = decisions.drop_duplicates("sample_id", keep="last").set_index("sample_id")
    by_id = by_id.reindex(scores["sample_id"])
    status = by_id["review_status"].fillna("pending").to_numpy(dtype=object, copy=True)
    reviewed = by_id["reviewed_label"].to_numpy(dtype=object, copy=True)
    unknown = ~np.isin(status, REVIEW_STATUSES)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise ReviewError(f"sample {scores['sample_id'].iloc[row]}: unknown review status "
                          f"{status[row]!r}; expected one of {', '.join(REVIEW_STATUSES)}")
    bad_edit = (status == "edited") & ~np.isin(reviewed, classes)
    if bad_edit.any():
        row = int(np.flatnonzero(bad_edit)[0])
        raise ReviewError(f"sample {scores['sample_id'].iloc[row]} ({scores['filepath'].iloc[row]}) "
                          f"is marked edited with label {reviewed[row]!r}, not one of the classes "
                          f"{list(classes)}; set a valid label in the review App")
    return status, reviewed


def _held_out(manifest: Manifest, scored_ids: pd.Series) -> pd.DataFrame:
    """Manifest rows that were not trained on (validation/test), with their label kept."""
    rows = manifest.table[~manifest.table["sample_id"].isin(scored_ids)]
    return pd.DataFrame({
        "sample_id": rows["sample_id"].to_numpy(),
        "filepath": rows["filepath"].to_numpy(),
        "split": rows["split"].to_numpy(),
        "original_label": rows["label"].astype(object).to_numpy(),
        "proposed_label": np.full(len(rows), None, dtype=object),
        "final_label": rows["label"].astype(object).to_numpy(),
        "status": np.full(len(rows), "held-out", dtype=object),
        **{column: np.full(len(rows), np.nan) for column in SCORE_COLUMNS},
    })
