"""What a curator review dataset holds: its fields, the review statuses and the saved views.

One FiftyOne sample per training image of a run. The SCN fields are rebuilt on every load from
`curator.scores.sample_scores` (see that module for how `suspicion` and `ambiguity` are
computed); the review fields (`review_status`, `reviewed_label`, and the sample tags) are the
annotators' decisions and are carried over from one load to the next.

`reviewed_label` is the class name the reviewer settled on (a plain string, empty while pending):
the proposal when accepted, the original label when rejected, the chosen class when edited.
"""

from __future__ import annotations

from collections.abc import Callable

import fiftyone as fo
from fiftyone import ViewField as F

PENDING = "pending"
ACCEPTED = "accepted"
REJECTED = "rejected"
EDITED = "edited"
AMBIGUOUS = "ambiguous"  # the reviewer sends the face to re-annotation: no label is right enough
# The one list of review statuses: export, summaries and the App plugin all read it.
STATUSES = (PENDING, ACCEPTED, REJECTED, EDITED, AMBIGUOUS)

SAMPLE_ID = "sample_id"
GROUND_TRUTH = "ground_truth"
RELABEL = "scn_relabel"
PREDICTION = "prediction"
WEIGHT = "scn_weight"
WEIGHT_HISTORY = "scn_weight_history"
LOW_EPOCHS = "scn_low_epochs"
SUSPICION = "suspicion"
AMBIGUITY = "ambiguity"
AMBIGUOUS_FLAG = "scn_ambiguous"
EXPECTED_GAIN = "scn_expected_gain"  # of the proposal: set only where there is one
NOISE_TRUTH = "noise_truth"
STATUS = "review_status"
REVIEWED_LABEL = "reviewed_label"
# Fields the annotators own: kept across loads, never recomputed.
DECISION_FIELDS = (STATUS, REVIEWED_LABEL, "tags")

# dataset.info keys
INFO_RUN_DIR = "curator_run_dir"
INFO_EPOCHS = "curator_epochs"
INFO_PROPOSAL_RULE = "curator_proposal_rule"  # `proposals.settled_rule` of the loaded scores

CLASSIFICATION_FIELDS = (GROUND_TRUTH, RELABEL, PREDICTION, NOISE_TRUTH)
PRIMITIVE_FIELDS: dict[str, tuple[type, type | None]] = {
    SAMPLE_ID: (fo.IntField, None),
    WEIGHT: (fo.FloatField, None),
    WEIGHT_HISTORY: (fo.ListField, fo.FloatField),
    LOW_EPOCHS: (fo.IntField, None),
    SUSPICION: (fo.FloatField, None),
    AMBIGUITY: (fo.FloatField, None),
    AMBIGUOUS_FLAG: (fo.BooleanField, None),
    EXPECTED_GAIN: (fo.FloatField, None),
    STATUS: (fo.StringField, None),
    REVIEWED_LABEL: (fo.StringField, None),
}

SAVED_VIEWS: dict[str, Callable[[fo.Dataset], fo.DatasetView]] = {
    "lowest weight first": lambda d: d.sort_by(WEIGHT),
    "proposed relabels": lambda d: d.exists(RELABEL).sort_by(f"{RELABEL}.confidence", reverse=True),
    "pending review": lambda d: d.match(F(STATUS) == PENDING).sort_by(SUSPICION, reverse=True),
    "most suspicious first": lambda d: d.sort_by(SUSPICION, reverse=True),
    "most ambiguous first": lambda d: d.sort_by(AMBIGUITY, reverse=True),
    "ambiguous faces": lambda d: d.match(F(AMBIGUOUS_FLAG)).sort_by(AMBIGUITY, reverse=True),
}


def declare_fields(dataset: fo.Dataset, *, with_truth: bool) -> None:
    """Add the review fields to an empty dataset's schema (so all-empty fields exist too)."""
    for name in CLASSIFICATION_FIELDS:
        if name == NOISE_TRUTH and not with_truth:
            continue
        dataset.add_sample_field(name, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    for name, (ftype, subfield) in PRIMITIVE_FIELDS.items():
        dataset.add_sample_field(name, ftype, subfield=subfield)


# The App's sidebar shows these first, under one heading, with the review status expanded.
SIDEBAR_GROUP = "scn review"
SIDEBAR_PATHS = (STATUS, REVIEWED_LABEL, SUSPICION, AMBIGUITY, AMBIGUOUS_FLAG, EXPECTED_GAIN, WEIGHT,
                 LOW_EPOCHS, WEIGHT_HISTORY, SAMPLE_ID)


def configure_app(dataset: fo.Dataset) -> None:
    """Create the review queue's saved views and the App's `scn review` sidebar group."""
    for name, make in SAVED_VIEWS.items():
        dataset.save_view(name, make(dataset), overwrite=True)
    groups = fo.DatasetAppConfig.default_sidebar_groups(dataset)
    for group in groups:
        group.paths = [path for path in group.paths if path not in SIDEBAR_PATHS]
    groups.insert(1, fo.SidebarGroupDocument(name=SIDEBAR_GROUP, paths=list(SIDEBAR_PATHS),
                                             expanded=True))
    dataset.app_config.sidebar_groups = groups
    dataset.save()
