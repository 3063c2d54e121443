"""@curator/scn-review: FiftyOne App operators to accept or reject SCN's proposed relabels.

Each operator acts on a target the annotator picks in its form (the whole dataset, the current
view, or the selected samples), has a button in the sample grid's action bar, and is a thin
wrapper over `curator.review`, so the same action runs from the App, from scripts and from
tests. `curator review RUN_DIR` loads this plugin into the App it launches.
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from curator import review


class _ReviewOperator(foo.Operator):
    """A review operator: its form (target choice first), grid button and result line."""

    CONFIG: dict = {}  # name, label, description, icon
    action_description = "Apply to"  # completed by the target: "... the current view"

    @property
    def config(self):
        return foo.OperatorConfig(**self.CONFIG)

    def resolve_placement(self, ctx):
        return types.Placement(
            types.Places.SAMPLES_GRID_SECONDARY_ACTIONS,
            types.Button(label=self.CONFIG["label"], icon=self.CONFIG["icon"], prompt=True))

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.view_target(ctx, action_description=self.action_description)
        self.add_inputs(ctx, inputs)
        return types.Property(inputs, view=types.View(label=self.CONFIG["label"]))

    def add_inputs(self, ctx, inputs):
        """Form fields after the target (none by default)."""

    def act(self, ctx, samples):
        """Apply the action to `samples`; returns a `curator.review.Outcome`."""
        raise NotImplementedError

    def execute(self, ctx):
        outcome = self.act(ctx, ctx.target_view())
        ctx.trigger("reload_dataset")
        return {"updated": outcome.updated, "skipped": outcome.skipped,
                "message": outcome.message()}

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.str("message", label="Result")
        return types.Property(outputs)


class AcceptRelabel(_ReviewOperator):
    CONFIG = dict(name="accept_relabel", label="SCN review: accept relabel", icon="check",
                  description="Take SCN's proposed label (status: accepted)")
    action_description = "Accept SCN's proposed label for"

    def act(self, ctx, samples):
        return review.accept(samples)


class RejectRelabel(_ReviewOperator):
    CONFIG = dict(name="reject_relabel", label="SCN review: reject relabel", icon="close",
                  description="Keep the original label (status: rejected)")
    action_description = "Keep the original label of"

    def act(self, ctx, samples):
        return review.reject(samples)


class SetLabel(_ReviewOperator):
    CONFIG = dict(name="set_label", label="SCN review: set label", icon="edit",
                  description="Choose the correct class (status: edited)")
    action_description = "Set the label of"

    def add_inputs(self, ctx, inputs):
        inputs.enum("label", ctx.dataset.default_classes, required=True, label="Class",
                    view=types.Dropdown(label="Class"))

    def act(self, ctx, samples):
        return review.set_label(samples, ctx.params["label"])


class MarkAmbiguous(_ReviewOperator):
    CONFIG = dict(name="mark_ambiguous", label="SCN review: mark ambiguous", icon="help",
                  description="No label is right enough: send to re-annotation (status: ambiguous)")
    action_description = "Send to re-annotation"

    def act(self, ctx, samples):
        return review.mark_ambiguous(samples)


class ResetReview(_ReviewOperator):
    CONFIG = dict(name="reset_review", label="SCN review: reset", icon="undo",
                  description="Back to pending, forgetting the decision")
    action_description = "Reset the review of"

    def act(self, ctx, samples):
        return review.reset(samples)


class ReviewSummary(_ReviewOperator):
    CONFIG = dict(name="review_summary", label="SCN review: summary", icon="fact_check",
                  description="How many samples are in each review status")
    action_description = "Count the review statuses of"

    def execute(self, ctx):
        return review.summary(ctx.target_view())

    def resolve_output(self, ctx):
        outputs = types.Object()
        for status in (*review.STATUSES, "proposals"):
            outputs.int(status, label=status)
        return types.Property(outputs, view=types.View(label="Review status counts"))


def register(p):
    for operator in (AcceptRelabel, RejectRelabel, SetLabel, MarkAmbiguous, ResetReview,
                     ReviewSummary):
        p.register(operator)
