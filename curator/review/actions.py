"""Review actions on any FiftyOne sample collection (a dataset, a view, the selected samples).

The App plugin (`plugins/scn-review`) only wraps these, so the same action works from the App,
from a script (`curator.review.accept(dataset.match(...))`) and from tests. Each action writes
its fields in one database aggregation (`set_field(...).save()`), not sample by sample.

- `accept`: take SCN's proposal (`scn_relabel`); samples without a proposal are left alone.
- `reject`: keep the original label (`ground_truth`); on a sample without a proposal this
  records that a reviewer checked the given label.
- `set_label`: the reviewer's own class (status `edited`).
- `mark_ambiguous`: no label is right enough; the face goes to re-annotation (status `ambiguous`).
- `reset`: back to `pending`, no reviewed label.
"""

from __future__ import annotations

from dataclasses import dataclass

import fiftyone as fo
from fiftyone import ViewField as F

from curator.errors import ReviewError
from curator.review import schema

Collection = fo.core.collections.SampleCollection


@dataclass(frozen=True)
class Outcome:
    """What an action did: samples updated, and samples left alone with the reason."""

    updated: int
    skipped: int = 0
    skipped_reason: str = ""

    def message(self) -> str:
        """One line for the annotator."""
        text = f"{self.updated} sample(s) updated"
        if self.skipped:
            text += f"; {self.skipped} left unchanged ({self.skipped_reason})"
        return text


def accept(samples: Collection) -> Outcome:
    """Mark SCN's proposed label as the reviewed label; samples without a proposal are skipped."""
    _require_review_fields(samples)
    with_proposal = samples.exists(schema.RELABEL)
    updated = _write(with_proposal, schema.ACCEPTED, F(f"{schema.RELABEL}.label"))
    return Outcome(updated, len(samples) - updated, "no SCN proposal to accept")


def reject(samples: Collection) -> Outcome:
    """Keep the original label as the reviewed label."""
    _require_review_fields(samples)
    return Outcome(_write(samples, schema.REJECTED, F(f"{schema.GROUND_TRUTH}.label")))


def set_label(samples: Collection, label: str) -> Outcome:
    """Set the reviewer's own class (one of the dataset's classes); status becomes `edited`."""
    _require_review_fields(samples)
    classes = samples.default_classes
    if label not in classes:
        raise ReviewError(f"label {label!r} is not one of the run's classes: {', '.join(classes)}")
    return Outcome(_write(samples, schema.EDITED, F.literal(label)))


def mark_ambiguous(samples: Collection) -> Outcome:
    """Send the faces to re-annotation: status `ambiguous`, no reviewed label."""
    _require_review_fields(samples)
    return Outcome(_write(samples, schema.AMBIGUOUS, F.literal(None)))


def reset(samples: Collection) -> Outcome:
    """Forget the decision: status `pending`, no reviewed label."""
    _require_review_fields(samples)
    return Outcome(_write(samples, schema.PENDING, F.literal(None)))


def summary(samples: Collection) -> dict[str, int]:
    """Samples per review status (every status listed, zeros included), plus `proposals`."""
    _require_review_fields(samples)
    counts = samples.count_values(schema.STATUS)
    result = {status: counts.get(status, 0) for status in schema.STATUSES}
    result["proposals"] = len(samples.exists(schema.RELABEL))
    return result


def _write(samples: Collection, status: str, reviewed_label: fo.ViewExpression) -> int:
    """Set status and reviewed label on every sample of `samples`; returns how many."""
    count = len(samples)
    if count:
        (samples.set_field(schema.REVIEWED_LABEL, reviewed_label)
                .set_field(schema.STATUS, F.literal(status))
                .save([schema.STATUS, schema.REVIEWED_LABEL]))
    return count


def _require_review_fields(samples: Collection) -> None:
    if schema.STATUS not in samples.get_field_schema():
        raise ReviewError(f"these samples have no {schema.STATUS} field; load a run with "
                          "`curator review RUN_DIR` and review that dataset")
