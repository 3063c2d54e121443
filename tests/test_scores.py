"""Scores and calibration: the pure functions against hand-computed values, and runs with a
holdout."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from curator import config, proposals, runlog, scores
from curator.calibration import MIN_CALIBRATION_SAMPLES, fit_isotonic
from curator.config import TrainConfig
from curator.data import manifest as manifest_module
from curator.data.training_set import DEFAULT_HOLDOUT, hold_out, holdout_share
from curator.errors import CuratorError
from synthetic_run import make_run


def test_fit_isotonic__pools_adjacent_violators():
    fitted = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
    # (0.2, 1) and (0.3, 0) violate the order and pool into (0.25, 0.5)
    np.testing.assert_allclose(fitted.x, [0.1, 0.25, 0.4])
    np.testing.assert_allclose(fitted.y, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(fitted(np.array([0.0, 0.175, 0.325, 0.9])), [0.0, 0.25, 0.75, 1.0])


def test_fit_isotonic__equal_scores_share_one_block():
    fitted = fit_isotonic(np.array([0.5, 0.5, 0.9]), np.array([0, 1, 1]))
    np.testing.assert_allclose(fitted.x, [0.5, 0.9])
    np.testing.assert_allclose(fitted.y, [0.5, 1.0])


def test_fit_isotonic__is_non_decreasing_and_calibrated_on_its_own_data():
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=2000)
    events = rng.uniform(size=2000) < truth ** 2  # an over-confident score
    fitted = fit_isotonic(truth, events)
    assert np.all(np.diff(fitted.y) >= 0)
    assert abs(fitted(np.array([0.5]))[0] - 0.25) < 0.08
    # pooled blocks keep the event rate: the mean calibrated value equals the base rate
    assert fitted(truth).mean() == pytest.approx(events.mean(), abs=0.01)


def test_fit_isotonic__refuses_mismatched_lengths():
    with pytest.raises(ValueError):
        fit_isotonic(np.array([0.1, 0.2]), np.array([1]))


def test_percentile_rank__ties_share_their_average_rank():
    ranks = scores.percentile_rank(np.array([0.5, 0.1, 0.5, 0.9], np.float32))
    np.testing.assert_allclose(ranks, [0.625, 0.25, 0.625, 1.0])
    np.testing.assert_allclose(scores.percentile_rank(np.ones(4)), 0.625)  # unit weights (CE)


def test_ambiguous_mask__unsure_faces_and_unconfident_lowest_weights():
    q = np.array([[0.4, 0.35, 0.25]] + [[0.8, 0.1, 0.1]] * 4)  # face 0: no class reaches 0.5
    low_weight = np.array([0.1, 0.2, 0.3, 0.4, 0.9])  # face 4 is the lowest-weight fifth
    unsure = np.array([0.2, 0.1, 0.1, 0.1, 0.65])
    none = np.full(5, -1)  # no proposals
    np.testing.assert_array_equal(scores.ambiguous_mask(q, low_weight, unsure, none),
                                  [True, False, False, False, True])
    confident = np.array([0.2, 0.1, 0.1, 0.1, 0.7])  # its best other class reaches 0.7
    np.testing.assert_array_equal(scores.ambiguous_mask(q, low_weight, confident, none),
                                  [True, False, False, False, False])


def test_ambiguous_mask__never_flags_a_face_with_a_proposal():
    q = np.array([[0.4, 0.35, 0.25]] + [[0.8, 0.1, 0.1]] * 4)  # face 0: no class reaches 0.5
    low_weight = np.array([0.1, 0.2, 0.3, 0.4, 0.9])  # face 4: the lowest-weight fifth
    unsure = np.array([0.2, 0.1, 0.1, 0.1, 0.65])
    proposed = np.array([1, -1, -1, -1, 2])
    np.testing.assert_array_equal(scores.ambiguous_mask(q, low_weight, unsure, proposed),
                                  [False] * 5)


def test_match_quantiles__keeps_order_and_takes_the_reference_scale():
    reference = np.linspace(0.0, 1.0, 101)
    matched = scores.match_quantiles(np.array([10.0, 30.0, 20.0, 40.0]), reference)
    np.testing.assert_allclose(matched, [0.125, 0.625, 0.375, 0.875])


def test_hold_out__takes_a_stratified_seeded_share_and_leaves_every_class_trainable():
    rows = manifest_module.build(
        pd.DataFrame({"filepath": [f"/x/{i}.png" for i in range(43)],
                                        "label": ["a"] * 30 + ["b"] * 12 + ["c"]}),
        ["a", "b", "c"], "x.csv")
    held = hold_out(rows, 0.1, seed=3)
    counts = held.table[held.table["split"] == "holdout"]["label"].value_counts().to_dict()
    assert counts == {"a": 3, "b": 1}  # round(0.1 * 1) of class c would leave it untrainable
    again = hold_out(rows, 0.1, seed=3)
    assert held.table["split"].tolist() == again.table["split"].tolist()
    assert hold_out(rows, 0.1, seed=4).table["split"].tolist() != held.table["split"].tolist()


def test_sample_scores__calibrates_on_the_holdout_and_scores_it(tmp_path):
    run_dir = make_run(tmp_path, n_train=120, n_holdout=80, epochs=4, noise=0.3)
    frame = scores.sample_scores(run_dir)
    assert frame.attrs["calibrated"] is True
    assert frame["split"].value_counts().to_dict() == {"train": 120, "holdout": 80}
    assert frame["sample_id"].tolist() == list(range(200))
    has = frame["proposed_label"].notna()
    assert has.any()
    assert (frame.loc[has, "expected_gain"] > 0).all()
    assert frame.loc[has, "confidence"].between(0, 1).all()
    assert frame.loc[~has, ["confidence", "expected_gain"]].isna().all().all()
    # held-out suspicion lives on the training samples' scale
    train = frame[frame["split"] == "train"]["suspicion"]
    held = frame[frame["split"] == "holdout"]["suspicion"]
    assert train.min() <= held.min() and held.max() <= train.max()
    wrong = frame["given_label"].astype(str) != frame["truth"].astype(str)
    assert frame.loc[wrong, "suspicion"].mean() > frame.loc[~wrong, "suspicion"].mean()


def test_sample_scores__proposes_past_the_lead_and_flags_only_faces_without_one(tmp_path,
                                                                                monkeypatch):
    run_dir = make_run(tmp_path, n_train=120, n_holdout=80, epochs=4, noise=0.3)
    frame = scores.sample_scores(run_dir)
    has = frame["proposed_label"].notna()
    assert has.any() and frame["ambiguous"].any()
    assert not frame.loc[has, "ambiguous"].any()
    right = frame.loc[has, "proposed_label"].astype(str) == frame.loc[has, "truth"].astype(str)
    assert right.mean() > 0.5  # the fixture's flips lose probability: proposals mostly fix them
    monkeypatch.setitem(config.PROPOSAL_LINES, "lead", 0.0)
    looser = scores.sample_scores(run_dir)
    more = looser["proposed_label"].notna()
    assert more.sum() > has.sum() and (more | ~has).all()
    assert looser.loc[has, "proposed_label"].astype(str).equals(
        frame.loc[has, "proposed_label"].astype(str))
    monkeypatch.setitem(config.PROPOSAL_LINES, "lead", 1.0)  # no class can lead by more than 1
    assert scores.sample_scores(run_dir)["proposed_label"].isna().all()


def test_sample_scores__validation_rows_calibrate_and_are_not_scored(tmp_path):
    frame = scores.sample_scores(make_run(tmp_path, n_train=120, n_val=60, epochs=4, noise=0.3))
    assert frame.attrs["calibrated"] is True
    assert frame["sample_id"].tolist() == list(range(120))
    assert (frame["split"] == "train").all()


def test_holdout_share__the_validation_split_replaces_the_default_holdout():
    def data(n_val):
        return manifest_module.build(pd.DataFrame({
            "filepath": [f"/x/{i}.png" for i in range(100 + n_val)],
            "label": ["a", "b"] * ((100 + n_val) // 2),
            "split": ["train"] * 100 + ["val"] * n_val}), ["a", "b"], "x.csv")

    assert holdout_share(None, data(MIN_CALIBRATION_SAMPLES)) == 0.0
    assert holdout_share(None, data(MIN_CALIBRATION_SAMPLES - 2)) == DEFAULT_HOLDOUT
    assert holdout_share(0.2, data(60)) == 0.2  # asked for explicitly
    assert holdout_share(0.0, data(0)) == 0.0


def test_sample_scores__proposes_from_the_run_s_recorded_window(tmp_path):
    run_dir = make_run(tmp_path, n_train=120, n_holdout=80, epochs=8, noise=0.3)
    last_five = scores.sample_scores(run_dir)
    config = runlog.read_config(run_dir)
    dataclasses.replace(config, proposal_window=0).save(run_dir / runlog.CONFIG)
    every = scores.sample_scores(run_dir)

    pd.testing.assert_frame_equal(every, scores.sample_scores(run_dir, window=0))
    pd.testing.assert_frame_equal(last_five, scores.sample_scores(run_dir, window=5))
    assert not every["confidence"].equals(last_five["confidence"])
    # the window only moves proposals; the ranking is over all epochs either way
    assert every["suspicion"].equals(last_five["suspicion"])


def test_sample_scores__proposes_by_the_run_s_recorded_rule(tmp_path):
    run_dir = make_run(tmp_path, n_train=120, n_holdout=80, epochs=8, noise=0.3)
    lead = scores.sample_scores(run_dir)
    config = runlog.read_config(run_dir)
    dataclasses.replace(config, proposal_rule="ratio").save(run_dir / runlog.CONFIG)
    ratio = scores.sample_scores(run_dir)

    pd.testing.assert_frame_equal(ratio, scores.sample_scores(run_dir, rule="ratio"))
    pd.testing.assert_frame_equal(lead, scores.sample_scores(run_dir, rule="lead"))
    assert not ratio["proposed_label"].astype(str).equals(lead["proposed_label"].astype(str))
    # the rule only moves proposals; the ranking is the same either way
    assert ratio["suspicion"].equals(lead["suspicion"])


def test_sample_scores__auto_takes_the_ratio_over_every_epoch_only_past_the_late_rise(
        tmp_path, monkeypatch):
    run_dir = make_run(tmp_path, n_train=120, n_holdout=80, epochs=8, noise=0.3)
    assert runlog.read_config(run_dir).proposal_rule == "auto"  # the default
    monkeypatch.setattr(proposals, "MEMORISED_RISE", -1.0)  # every run counts as memorising
    ratio = scores.sample_scores(run_dir)
    assert (ratio.attrs["proposal_rule"], ratio.attrs["proposal_window"]) == ("ratio", 0)
    pd.testing.assert_frame_equal(ratio, scores.sample_scores(run_dir, window=0, rule="ratio"))
    monkeypatch.setattr(proposals, "MEMORISED_RISE", 1.0)  # no probability can rise by more than 1
    lead = scores.sample_scores(run_dir)
    assert (lead.attrs["proposal_rule"], lead.attrs["proposal_window"]) == ("lead", 5)
    pd.testing.assert_frame_equal(lead, scores.sample_scores(run_dir, rule="lead"))
    assert isinstance(lead.attrs["late_rise"], float)
    assert lead.attrs["late_rise"] == ratio.attrs["late_rise"]
    assert scores.sample_scores(run_dir, rule="lead").attrs["late_rise"] is None
    assert not ratio["proposed_label"].astype(str).equals(lead["proposed_label"].astype(str))


def test_train_config__the_proposal_window_and_rule_are_scoring_options():
    config = TrainConfig(proposal_window=0, proposal_rule="ratio")
    assert config.to_dict()["proposal_window"] == 0
    assert config.to_dict()["proposal_rule"] == "ratio"
    assert "proposal_window" not in config.training_dict()
    assert "proposal_rule" not in config.training_dict()
    assert config.training_dict() == TrainConfig().training_dict()
    with pytest.raises(CuratorError, match="--proposal-window must be 0"):
        TrainConfig(proposal_window=-1)
    with pytest.raises(CuratorError, match="--proposal-rule must be one of auto, lead, ratio; got 'odds'"):
        TrainConfig(proposal_rule="odds")


def test_sample_scores__without_a_holdout_confidence_is_uncalibrated(tmp_path):
    frame = scores.sample_scores(make_run(tmp_path, n_train=40, epochs=3))
    assert frame.attrs["calibrated"] is False
    assert (frame["split"] == "train").all()


def test_train_config__refuses_a_holdout_share_over_one_half():
    with pytest.raises(Exception, match="--holdout"):
        TrainConfig(holdout=0.6)
