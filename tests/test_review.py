"""curator review: run directory -> FiftyOne dataset, the review actions, the App plugin, the CLI.

Runs against the throwaway FiftyOne database that tests/conftest.py sets up.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import fiftyone as fo
import fiftyone.operators as foo
import numpy as np
import pytest
import yaml
from fiftyone import ViewField as F
from fiftyone.operators.executor import ExecutionError
from typer.testing import CliRunner

from curator import review, runlog
from curator.errors import ReviewError, RunError
from curator.review import schema
from curator.review.dataset import PREVIOUS_SUFFIX
from curator.proposals import SETTLED_KEYS, describe_rule
from curator.scores import sample_scores
from curator_cli.main import app
from synthetic_run import make_run

N_TRAIN = 12
EPOCHS = 3
PLUGIN = "@curator/scn-review"
_names = (f"curator-test-{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("review"), n_train=N_TRAIN, epochs=EPOCHS)


@pytest.fixture
def name():
    """A fresh dataset name, deleted (with any leftover of a swap) after the test."""
    dataset_name = next(_names)
    yield dataset_name
    for leftover in (dataset_name, dataset_name + PREVIOUS_SUFFIX):
        if fo.dataset_exists(leftover):
            fo.delete_dataset(leftover)


@pytest.fixture
def dataset(run_dir, name) -> fo.Dataset:
    return review.load_run(run_dir, name=name)


@pytest.fixture
def plugin(monkeypatch):
    """curator's plugin enabled for this test only."""
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", fo.config.plugins_dir)
    monkeypatch.setattr(fo.config, "plugins_dir", fo.config.plugins_dir)
    review.use_plugin()


def curator(*args: str):
    """Run the `curator` command line in this process."""
    return CliRunner().invoke(app, list(args))


def run_operator(name: str, dataset: fo.Dataset, **ctx) -> dict:
    """Execute one of our operators through FiftyOne's operator-execution API."""
    return foo.execute_operator(f"{PLUGIN}/{name}", ctx={"dataset": dataset, **ctx}).result


def decided(dataset: fo.Dataset) -> dict[int, tuple[str, str | None]]:
    """sample_id -> (status, reviewed label) of every sample not pending."""
    view = dataset.match(F(schema.STATUS) != schema.PENDING)
    ids, statuses, labels = view.values([schema.SAMPLE_ID, schema.STATUS, schema.REVIEWED_LABEL])
    return {i: (s, label) for i, s, label in zip(ids, statuses, labels)}


def append_epoch(run: Path) -> None:
    """Record one more epoch, as `curator train --resume` would (all weights 0.5)."""
    last = runlog.read_raw_epoch(run, EPOCHS)
    probs = last[[c for c in last.columns if c.startswith("prob_")]].to_numpy()
    runlog.write_epoch(run, EPOCHS + 1, {
        "sample_id": last["sample_id"], "given_label": last["given_label"],
        "current_label": last["current_label"], "weight": np.full(len(last), 0.5),
        "high": last["high"], "pred_label": last["pred_label"],
        "proposed_label": last["proposed_label"], "probs": probs})
    runlog.write_info(run, epochs_done=EPOCHS + 1)


# ---------------------------------------------------------------- loading
def test_load_run__one_sample_per_training_image_with_scn_fields(run_dir, dataset):
    scores = sample_scores(run_dir).set_index("sample_id")
    assert len(dataset) == N_TRAIN
    ids = dataset.values(schema.SAMPLE_ID)
    assert sorted(ids) == list(range(N_TRAIN))
    rows = scores.loc[ids]
    assert dataset.values("filepath") == rows["filepath"].tolist()
    assert dataset.values("ground_truth.label") == rows["given_label"].astype(str).tolist()
    assert dataset.values("prediction.label") == rows["pred_label"].astype(str).tolist()
    assert np.allclose(dataset.values("prediction.confidence"), rows["pred_prob"])
    assert np.allclose(dataset.values("scn_weight"), rows["scn_weight"])
    assert dataset.values("scn_low_epochs") == rows["scn_low_epochs"].tolist()
    assert np.allclose(dataset.values("suspicion"), rows["suspicion"])
    assert np.allclose(dataset.values("ambiguity"), rows["ambiguity"])
    assert dataset.values("noise_truth.label") == rows["truth"].astype(str).tolist()
    histories = dataset.values("scn_weight_history")
    assert all(len(h) == EPOCHS for h in histories)
    assert np.allclose([h[-1] for h in histories], dataset.values("scn_weight"))
    assert set(dataset.values(schema.STATUS)) == {schema.PENDING}
    assert set(dataset.values(schema.REVIEWED_LABEL)) == {None}
    assert dataset.persistent
    assert dataset.info[schema.INFO_RUN_DIR] == str(run_dir.resolve())
    assert dataset.info[schema.INFO_EPOCHS] == EPOCHS
    settled = dataset.info[schema.INFO_PROPOSAL_RULE]
    assert settled == {key: scores.attrs[key] for key in SETTLED_KEYS}
    assert settled["proposal_rule"] in ("lead", "ratio")  # the run's `auto`, settled
    assert isinstance(dataset.first().ground_truth, fo.Classification)


def test_load_run__relabel_only_where_scn_proposes_another_label(run_dir, dataset):
    scores = sample_scores(run_dir).set_index("sample_id")
    ids, proposed, confidence = dataset.values(
        [schema.SAMPLE_ID, "scn_relabel.label", "scn_relabel.confidence"])
    expected = scores.loc[ids, "proposed_label"]
    assert 0 < expected.notna().sum() < N_TRAIN  # the fixture has both kinds
    assert proposed == [None if p != p else str(p) for p in expected.astype(object)]
    has = expected.notna().to_numpy()
    assert np.allclose(np.asarray(confidence)[has].astype(float), scores.loc[ids, "confidence"][has])
    gains = np.asarray(dataset.values(schema.EXPECTED_GAIN), dtype=float)
    assert np.allclose(gains[has], scores.loc[ids, "expected_gain"][has]) and (gains[has] > 0).all()
    assert np.isnan(gains[~has]).all()  # no proposal, no gain
    given = dataset.values("ground_truth.label")
    assert all(p != g for p, g in zip(proposed, given) if p is not None)


def test_load_run__app_sidebar_shows_the_review_fields_in_their_own_group(dataset):
    groups = {group.name: group.paths for group in dataset.app_config.sidebar_groups}
    assert groups[schema.SIDEBAR_GROUP][:2] == [schema.STATUS, schema.REVIEWED_LABEL]
    others = [p for name, paths in groups.items() if name != schema.SIDEBAR_GROUP for p in paths]
    assert not set(others) & set(schema.SIDEBAR_PATHS)


def test_load_run__saved_views_order_the_review_queue(dataset):
    assert dataset.list_saved_views() == list(schema.SAVED_VIEWS)
    suspicion = dataset.load_saved_view("most suspicious first").values("suspicion")
    assert suspicion == sorted(suspicion, reverse=True)
    weights = dataset.load_saved_view("lowest weight first").values("scn_weight")
    assert weights == sorted(weights)
    ambiguity = dataset.load_saved_view("most ambiguous first").values("ambiguity")
    assert ambiguity == sorted(ambiguity, reverse=True)
    proposals = len(dataset.exists("scn_relabel"))
    assert len(dataset.load_saved_view("proposed relabels")) == proposals
    review.accept(dataset)
    assert len(dataset.load_saved_view("pending review")) == N_TRAIN - proposals


def test_load_run__without_truth_has_no_noise_truth_field(tmp_path, name):
    loaded = review.load_run(make_run(tmp_path, n_train=8, epochs=2, truth=False), name=name)
    assert "noise_truth" not in loaded.get_field_schema()
    assert len(loaded) == 8


def test_load_run__default_name_comes_from_the_run_folder(run_dir):
    assert review.default_name(run_dir) == f"curator-{run_dir.resolve().name}"


# ---------------------------------------------------------------- re-loading keeps decisions
def test_reload__keeps_decisions_and_tags_and_updates_scn_fields_after_more_epochs(tmp_path, name):
    run = make_run(tmp_path, n_train=N_TRAIN, epochs=EPOCHS)
    first = review.load_run(run, name=name)
    review.accept(first.exists("scn_relabel").limit(2))
    review.set_label(first.match(F(schema.SAMPLE_ID) == 0), "sad")
    review.reject(first.match(F(schema.SAMPLE_ID) == 1))
    first.match(F(schema.SAMPLE_ID) == 5).tag_samples("blurry")
    before = decided(first)
    append_epoch(run)

    again = review.load_run(run, name=name)

    assert decided(again) == before
    assert again.match(F(schema.SAMPLE_ID) == 5).first().tags == ["blurry"]
    assert all(len(h) == EPOCHS + 1 for h in again.values("scn_weight_history"))
    assert np.allclose(again.values("scn_weight"), 0.5)
    assert again.info[schema.INFO_EPOCHS] == EPOCHS + 1
    assert fo.list_datasets(name + "*") == [name]  # no temporary or previous copy left


def test_reload__a_failed_load_leaves_the_previous_dataset_untouched(run_dir, dataset, monkeypatch):
    review.reject(dataset.limit(3))
    before = decided(dataset)
    datasets_before = fo.list_datasets()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("curator.review.dataset.documents", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        review.load_run(run_dir, name=dataset.name)
    assert fo.list_datasets() == datasets_before
    assert decided(fo.load_dataset(dataset.name)) == before


def test_reload__after_a_swap_cut_short_the_previous_dataset_comes_back(run_dir, dataset):
    review.reject(dataset.limit(2))
    before = decided(dataset)
    name = dataset.name
    dataset.name = name + PREVIOUS_SUFFIX  # the crash: moved aside, the new one not yet named

    again = review.load_run(run_dir, name=name)

    assert decided(again) == before
    assert not fo.dataset_exists(name + PREVIOUS_SUFFIX)


def test_reload__refuses_a_dataset_of_another_run_unless_overwrite(tmp_path, dataset):
    other_run = make_run(tmp_path, n_train=8, epochs=2)
    review.accept(dataset)
    with pytest.raises(ReviewError, match="--overwrite"):
        review.load_run(other_run, name=dataset.name)
    replaced = review.load_run(other_run, name=dataset.name, overwrite=True)
    assert len(replaced) == 8
    assert decided(replaced) == {}
    assert replaced.info[schema.INFO_RUN_DIR] == str(other_run.resolve())


def test_reload__refuses_a_dataset_not_made_by_curator(run_dir, name):
    fo.Dataset(name, persistent=True)
    with pytest.raises(ReviewError, match="something other than `curator review`"):
        review.load_run(run_dir, name=name)


def test_reload__refuses_to_drop_decisions_on_images_the_run_no_longer_has(tmp_path, name):
    run = make_run(tmp_path, n_train=N_TRAIN, epochs=2)
    first = review.load_run(run, name=name)
    review.reject(first.match(F(schema.SAMPLE_ID) >= 10))
    review.reject(first.match(F(schema.SAMPLE_ID) == 0))
    kept_decision = decided(first)[0]
    shutil.rmtree(run)
    make_run(tmp_path, n_train=8, epochs=2)  # the same folder, now with fewer images

    with pytest.raises(ReviewError, match="2 review decision"):
        review.load_run(run, name=name)
    kept = review.load_run(run, name=name, overwrite=True)
    assert decided(kept) == {0: kept_decision}


# ---------------------------------------------------------------- bad input
def test_load_run__refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="not a curator run directory"):
        review.load_run(tmp_path)


def test_load_run__refuses_a_run_with_no_epoch_yet(tmp_path):
    run = make_run(tmp_path, n_train=8, epochs=1)
    runlog.epoch_path(run, 1).unlink()
    with pytest.raises(RunError, match="no epoch has finished yet"):
        review.load_run(run)


def test_check_port__names_the_busy_port_and_suggests_another():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ReviewError, match=rf"port {port} .* in use.*--port \d+"):
            review.check_port("127.0.0.1", port)


# ---------------------------------------------------------------- actions
def test_accept__skips_samples_without_a_proposal_and_says_so(dataset):
    outcome = review.accept(dataset)
    proposals = len(dataset.exists("scn_relabel"))
    assert (outcome.updated, outcome.skipped) == (proposals, N_TRAIN - proposals)
    assert "no SCN proposal" in outcome.message()
    accepted = dataset.match(F(schema.STATUS) == schema.ACCEPTED)
    assert accepted.values(schema.REVIEWED_LABEL) == accepted.values("scn_relabel.label")
    assert set(dataset.exists("scn_relabel", False).values(schema.STATUS)) == {schema.PENDING}


def test_set_label__refuses_a_class_the_run_does_not_have(dataset):
    with pytest.raises(ReviewError, match="not one of the run's classes"):
        review.set_label(dataset, "bored")


def test_actions__refuse_a_dataset_without_review_fields(name):
    with pytest.raises(ReviewError, match="curator review RUN_DIR"):
        review.accept(fo.Dataset(name))


# ---------------------------------------------------------------- the App plugin's operators
def test_plugin__is_found_and_lists_every_operator(plugin):
    manifest = yaml.safe_load((review.plugin_dir() / "fiftyone.yml").read_text())
    assert manifest["name"] == PLUGIN
    listed = {op.uri for op in foo.list_operators() if op.plugin_name == PLUGIN}
    assert listed == {f"{PLUGIN}/{op}" for op in manifest["operators"]}


def test_accept_relabel__on_selected_samples_sets_status_and_proposed_label(plugin, dataset):
    with_proposal = dataset.exists("scn_relabel").first()
    without = dataset.exists("scn_relabel", False).first()

    result = run_operator("accept_relabel", dataset, selected=[with_proposal.id, without.id],
                          params={"view_target": "SELECTED_SAMPLES"})

    assert (result["updated"], result["skipped"]) == (1, 1)
    assert "no SCN proposal" in result["message"]
    assert decided(dataset) == {
        with_proposal.sample_id: (schema.ACCEPTED, with_proposal.scn_relabel.label)}


def test_reject_relabel__on_the_current_view_keeps_the_original_labels(plugin, dataset):
    view = dataset.exists("scn_relabel")

    result = run_operator("reject_relabel", dataset, view=view,
                          params={"view_target": "CURRENT_VIEW"})

    assert result["updated"] == len(view)
    assert view.values(schema.REVIEWED_LABEL) == view.values("ground_truth.label")
    assert set(view.values(schema.STATUS)) == {schema.REJECTED}
    assert len(decided(dataset)) == len(view)


def test_set_label__on_selected_samples_marks_them_edited(plugin, dataset):
    chosen = dataset.take(3, seed=1).values("id")

    run_operator("set_label", dataset, selected=chosen,
                 params={"view_target": "SELECTED_SAMPLES", "label": "neutral"})

    edited = dataset.select(chosen)
    assert set(edited.values(schema.STATUS)) == {schema.EDITED}
    assert set(edited.values(schema.REVIEWED_LABEL)) == {"neutral"}
    assert len(decided(dataset)) == 3


def test_set_label__operator_refuses_a_label_outside_the_classes(plugin, dataset):
    with pytest.raises(ExecutionError, match="Path: label. Reason: Invalid enum value"):
        run_operator("set_label", dataset, params={"view_target": "DATASET", "label": "bored"})
    assert decided(dataset) == {}


def test_reset_review__on_the_whole_dataset_returns_everything_to_pending(plugin, dataset):
    review.reject(dataset)

    result = run_operator("reset_review", dataset, params={"view_target": "DATASET"})

    assert result["updated"] == N_TRAIN
    assert decided(dataset) == {}
    assert set(dataset.values(schema.REVIEWED_LABEL)) == {None}


def test_review_summary__counts_every_status(plugin, dataset):
    review.reject(dataset.limit(2))
    review.set_label(dataset.skip(2).limit(3), "happy")

    counts = run_operator("review_summary", dataset, params={"view_target": "DATASET"})

    assert counts == {"pending": N_TRAIN - 5, "accepted": 0, "rejected": 2, "edited": 3,
                      "ambiguous": 0, "proposals": len(dataset.exists("scn_relabel"))}
    assert list(counts)[:len(review.STATUSES)] == list(review.STATUSES)


# ---------------------------------------------------------------- the command line
def test_cli_review__no_launch_loads_the_run_and_prints_the_counts(run_dir, name):
    result = curator("review", str(run_dir), "--dataset", name, "--no-launch")
    assert result.exit_code == 0, result.output
    assert name in result.output and "pending" in result.output
    loaded = fo.load_dataset(name)
    assert len(loaded) == N_TRAIN
    assert (f"proposals by {describe_rule(loaded.info[schema.INFO_PROPOSAL_RULE])}"
            in " ".join(result.output.split()))


def test_cli_review__a_busy_port_is_one_clear_error(run_dir, name):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = curator("review", str(run_dir), "--dataset", name, "--port", str(port))
    assert result.exit_code == 1
    assert f"port {port}" in result.output and "--port" in result.output
    assert not fo.dataset_exists(name)  # refused before loading


def test_cli_review__a_database_that_cannot_be_reached_is_one_clear_error(run_dir):
    nothing_listens = review.free_port()
    env = {**os.environ, "FIFTYONE_DATABASE_URI":
           f"mongodb://127.0.0.1:{nothing_listens}/?serverSelectionTimeoutMS=2000"}
    done = subprocess.run([sys.executable, "-m", "curator_cli.main", "review", str(run_dir),
                           "--no-launch"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout
    assert "error: cannot reach FiftyOne's database" in done.stderr
    assert "FIFTYONE_DATABASE_URI" in done.stderr and "Traceback" not in done.stderr


def test_mark_ambiguous__sends_selected_faces_to_re_annotation(plugin, dataset):
    chosen = dataset.take(2, seed=3).values("id")

    result = run_operator("mark_ambiguous", dataset, selected=chosen,
                          params={"view_target": "SELECTED_SAMPLES"})

    assert result["updated"] == 2
    marked = dataset.select(chosen)
    assert set(marked.values(schema.STATUS)) == {schema.AMBIGUOUS}
    assert set(marked.values(schema.REVIEWED_LABEL)) == {None}


def test_load__flags_ambiguous_faces_without_proposals(dataset):
    flagged = dataset.match(F(schema.AMBIGUOUS_FLAG))
    assert len(flagged) > 0, "the synthetic run has faces whose best class stays under 0.5"
    assert len(flagged.exists(schema.RELABEL)) == 0
    assert len(dataset.load_saved_view("ambiguous faces")) == len(flagged)
