"""Load a run directory into a persistent FiftyOne dataset, keeping the annotators' decisions.

A load never edits the existing dataset in place: it snapshots the decisions, builds a complete
new (non-persistent) dataset under a temporary name, then swaps it in by renaming. So a load
that dies half-way leaves the previous dataset untouched (FiftyOne drops the unfinished,
non-persistent one), and no dataset ever mixes SCN fields from two loads. The swap is two
renames; if a crash falls between them, the next load finds `<name>--curator-previous` and
puts it back before doing anything else.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path

import fiftyone as fo
import fiftyone.core.odm as foo
import fiftyone.core.utils as fou
import pandas as pd
from fiftyone import ViewField as F

from curator import runlog
from curator.errors import ReviewError, RunError
from curator.review import schema
from curator.review.samples import Decision, documents
from curator.proposals import settled_rule
from curator.scores import sample_scores

PREVIOUS_SUFFIX = "--curator-previous"
LOADING_SUFFIX = "--curator-loading-"


def connect() -> None:
    """Start (or reach) FiftyOne's database, or raise ReviewError saying how to fix it."""
    try:
        fo.list_datasets()
    except Exception as error:  # whatever stops mongod, the user gets one line and the fix
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ReviewError(
            f"cannot reach FiftyOne's database ({reason}); make sure {fo.config.database_dir} "
            "is writable and has free space and no stale mongod holds it, or, if you set "
            "FIFTYONE_DATABASE_URI, that this MongoDB is running"
        ) from error


def default_name(run_dir: Path) -> str:
    """The dataset name `curator review` uses for a run unless given one."""
    return f"curator-{Path(run_dir).resolve().name}"


def load_run(run_dir: Path, *, name: str | None = None, overwrite: bool = False) -> fo.Dataset:
    """Create or update the review dataset of `run_dir`; review decisions are carried over.

    A dataset of that name made from another run (or not by curator) is refused unless
    `overwrite`, which replaces it and drops its decisions.
    """
    run_dir = runlog.require_run(run_dir).resolve()
    epochs = runlog.completed_epochs(run_dir)
    if not epochs:
        raise RunError(f"{run_dir}: no epoch has finished yet; run `curator review` again once "
                       "`curator train` has recorded one")
    name = name or default_name(run_dir)
    _check_name(name)
    connect()
    scores = sample_scores(run_dir)
    _recover_interrupted_swap(name)
    decisions = _decisions_to_keep(name, run_dir, scores, overwrite=overwrite)
    fresh = _build(name, run_dir, scores, epochs=len(epochs), decisions=decisions)
    _swap_in(fresh, name)
    return fresh


def run_dir_of(name: str) -> Path | None:
    """The run directory a review dataset was loaded from; None when no such dataset exists."""
    connect()
    if not fo.dataset_exists(name):
        return None
    run_dir = fo.load_dataset(name).info.get(schema.INFO_RUN_DIR)
    if not run_dir:
        raise ReviewError(f"FiftyOne dataset {name!r} records no run directory; was it made by "
                          "`curator review`?")
    return runlog.require_run(Path(run_dir))


def read_decisions(name: str) -> pd.DataFrame:
    """Every sample's decision: sample_id, review_status, reviewed_label (None while pending)."""
    connect()
    if not fo.dataset_exists(name):
        raise ReviewError(f"no FiftyOne dataset named {name!r}; `curator review RUN_DIR` makes one")
    ids, statuses, labels = fo.load_dataset(name).values(
        [schema.SAMPLE_ID, schema.STATUS, schema.REVIEWED_LABEL])
    return pd.DataFrame({"sample_id": ids, "review_status": statuses,
                         "reviewed_label": [label or None for label in labels]})


def _check_name(name: str) -> None:
    try:
        fou.to_slug(name)
    except ValueError as error:
        raise ReviewError(f"--dataset {name!r} is not a usable FiftyOne dataset name: {error}") from None
    if name.endswith(PREVIOUS_SUFFIX) or LOADING_SUFFIX in name:
        raise ReviewError(f"--dataset {name!r} looks like one of curator's temporary datasets; "
                          "choose another name")


def _decisions_to_keep(name: str, run_dir: Path, scores: pd.DataFrame, *,
                       overwrite: bool) -> dict[int, Decision]:
    """Decisions of the existing dataset `name`, keyed by sample_id; {} if there is none."""
    if not fo.dataset_exists(name):
        return {}
    existing = fo.load_dataset(name)
    owner = existing.info.get(schema.INFO_RUN_DIR)
    if owner != str(run_dir):
        if overwrite:
            return {}
        made_by = f"run {owner}" if owner else "something other than `curator review`"
        raise ReviewError(f"FiftyOne dataset {name!r} was made from {made_by}, not {run_dir}; "
                          "pick another name with --dataset NAME, or pass --overwrite to replace "
                          "it (its review decisions are dropped)")
    decided = existing.match((F(schema.STATUS) != schema.PENDING) | (F("tags").length() > 0))
    ids, paths, statuses, labels, tags = decided.values(
        [schema.SAMPLE_ID, "filepath", schema.STATUS, schema.REVIEWED_LABEL, "tags"])
    filepath_of = dict(zip(scores["sample_id"].tolist(), scores["filepath"].tolist()))
    decisions, orphans = {}, []
    for sample_id, path, status, label, sample_tags in zip(ids, paths, statuses, labels, tags):
        if filepath_of.get(sample_id) != path:
            orphans.append(path)
            continue
        decisions[sample_id] = Decision(status, label, tuple(sample_tags or ()))
    if orphans and not overwrite:
        raise ReviewError(f"FiftyOne dataset {name!r} has {len(orphans)} review decision(s) on "
                          f"images that {run_dir} no longer holds (e.g. {orphans[0]}); load into a "
                          "new dataset with --dataset NAME, or pass --overwrite to drop them")
    return decisions


def _build(name: str, run_dir: Path, scores: pd.DataFrame, *, epochs: int,
           decisions: dict[int, Decision]) -> fo.Dataset:
    """A complete, still non-persistent review dataset under a temporary name."""
    dataset = fo.Dataset(f"{name}{LOADING_SUFFIX}{secrets.token_hex(4)}")
    try:
        dataset.media_type = "image"
        dataset.default_classes = list(runlog.read_info(run_dir)["classes"])
        dataset.info = {schema.INFO_RUN_DIR: str(run_dir), schema.INFO_EPOCHS: epochs,
                        schema.INFO_PROPOSAL_RULE: settled_rule(scores)}
        dataset.save()
        schema.declare_fields(dataset, with_truth="truth" in scores)
        _insert(dataset, documents(scores, decisions))
        dataset.create_index(schema.SAMPLE_ID, unique=True)
        schema.configure_app(dataset)
    except BaseException:
        dataset.delete()
        raise
    return dataset


def _insert(dataset: fo.Dataset, docs: list[dict]) -> None:
    """Bulk-insert sample documents the way FiftyOne's own importers do.

    `fiftyone.utils.data.importers.FiftyOneDatasetImporter` writes through the same private
    collection handle; `add_samples` would build one mongoengine object per sample (see
    `curator.review.samples`).
    """
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # FiftyOne stores naive UTC
    for doc in docs:
        doc.update(_dataset_id=dataset._doc.id, created_at=now, last_modified_at=now)
    foo.insert_documents(docs, dataset._sample_collection, progress=False)
    dataset.reload()


def _swap_in(fresh: fo.Dataset, name: str) -> None:
    """Give `fresh` the name `name` (moving any previous dataset aside first) and keep it."""
    previous = name + PREVIOUS_SUFFIX
    if fo.dataset_exists(name):
        fo.load_dataset(name).name = previous
    try:
        fresh.name = name
    except ValueError as error:  # e.g. another dataset already has the same URL slug
        fresh.delete()
        _recover_interrupted_swap(name)
        raise ReviewError(f"cannot name the dataset {name!r}: {error}; choose another "
                          "--dataset NAME") from None
    fresh.persistent = True
    if fo.dataset_exists(previous):
        fo.delete_dataset(previous)


def _recover_interrupted_swap(name: str) -> None:
    """Undo a swap that a crash cut short, so no decision is lost."""
    previous = name + PREVIOUS_SUFFIX
    if not fo.dataset_exists(previous):
        return
    if fo.dataset_exists(name):
        current = fo.load_dataset(name)
        if current.persistent:  # the swap finished; only removing the old copy was cut short
            fo.delete_dataset(previous)
            return
        current.delete()
    fo.load_dataset(previous).name = name
