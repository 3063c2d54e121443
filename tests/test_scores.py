"""Scores and calibration: the pure functions against hand-computed values, and a run with a holdout."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from curator import config, runlog, scores
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


def suspicion(probs: np.ndarray, weights: np.ndarray, given: np.ndarray) -> np.ndarray:
    """`suspicion` from records, as `sample_scores` computes it."""
    return scores.suspicion_score(*scores.given_and_best_other(probs, given, weights))


def test_suspicion_score__weighs_the_missing_given_probability_two_to_one_with_the_best_other():
    probs = np.array([[[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]],    # epoch 1
                      [[0.5, 0.4, 0.1], [0.2, 0.2, 0.6]]])   # epoch 2
    unit = np.ones((2, 2))  # plain CE: the probabilities as recorded
    # sample 0, given 0: (2*0.3 + 0.2)/3, (2*0.5 + 0.4)/3 -> (0.8 + 1.4)/6
    # sample 1, given 1: (2*0.5 + 0.4)/3, (2*0.8 + 0.6)/3 -> (1.4 + 2.2)/6
    np.testing.assert_allclose(suspicion(probs, unit, np.array([0, 1])), [2.2 / 6, 0.6],
                               rtol=1e-6)


def test_suspicion_score__spans_zero_to_one():
    sure = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    np.testing.assert_allclose(suspicion(sure, np.ones((1, 2)), np.array([0, 0])),
                               [0.0, 1.0], atol=1e-6)


def test_weighted_softmax__is_the_softmax_of_the_weighted_logits():
    logits = np.array([[2.0, 1.0, 0.0], [0.5, -1.0, 3.0]])
    alpha = np.array([0.5, 0.25])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = np.exp(logits * alpha[:, None])
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores.weighted_softmax(probs, alpha), expected, rtol=1e-5)
    # by hand: p = (0.5, 0.25, 0.25) at weight 0.5 -> (sqrt 0.5, 0.5, 0.5) / (sqrt 0.5 + 1)
    half = scores.weighted_softmax(np.array([[0.5, 0.25, 0.25]]), np.array([0.5]))
    np.testing.assert_allclose(half, [[0.41421356, 0.29289322, 0.29289322]], rtol=1e-6)


def test_weighted_softmax__keeps_unit_weights_as_recorded_and_flattens_towards_zero():
    probs = np.array([[0.6, 0.3, 0.1], [0.9, 0.1, 0.0]], np.float16)
    np.testing.assert_array_equal(scores.weighted_softmax(probs, np.ones(2, np.float16)),
                                  probs.astype(np.float32))
    flat = scores.weighted_softmax(probs, np.array([1e-4, 1e-4], np.float16))
    np.testing.assert_allclose(flat, 1 / 3, atol=1e-2)  # a zero probability stays finite
    assert np.isfinite(flat).all()


def test_suspicion_score__a_low_weight_makes_the_same_prediction_more_suspicious():
    probs = np.array([[[0.8, 0.15, 0.05], [0.8, 0.15, 0.05]]] * 3, np.float32)  # 3 epochs
    weights = np.array([[0.9, 0.2]] * 3, np.float32)  # SCN trusted sample 0, not sample 1
    low_trust = suspicion(probs, weights, np.array([0, 0]))
    assert low_trust[1] > low_trust[0]
    # sample 1's given label at weight 0.2: 0.8^0.2 / (0.8^0.2 + 0.15^0.2 + 0.05^0.2)
    p = np.array([0.8, 0.15, 0.05]) ** 0.2
    p /= p.sum()
    assert low_trust[1] == pytest.approx((2 * (1 - p[0]) + p[1]) / 3, rel=1e-5)


def test_percentile_rank__ties_share_their_average_rank():
    ranks = scores.percentile_rank(np.array([0.5, 0.1, 0.5, 0.9], np.float32))
    np.testing.assert_allclose(ranks, [0.625, 0.25, 0.625, 1.0])
    np.testing.assert_allclose(scores.percentile_rank(np.ones(4)), 0.625)  # unit weights (CE)


def test_evidence_mean__uses_the_last_epochs_trained_on_the_given_label():
    probs = np.array([[[0.9, 0.1]], [[0.7, 0.3]], [[0.5, 0.5]], [[0.1, 0.9]]], np.float32)
    unit = np.ones((4, 1), np.float32)  # plain CE
    evidence = np.array([[True], [True], [True], [False]])  # relabelled before epoch 4
    np.testing.assert_allclose(scores.evidence_mean(probs, unit, evidence, 2), [[0.6, 0.4]])
    none = np.zeros((4, 1), bool)  # relabelled from the start: every epoch counts
    np.testing.assert_allclose(scores.evidence_mean(probs, unit, none, 2), [[0.55, 0.45]])
    # window 0: every epoch trained on the given label
    np.testing.assert_allclose(scores.evidence_mean(probs, unit, evidence, 0), [[0.7, 0.3]],
                               rtol=1e-6)


def test_evidence_mean__averages_the_weighted_softmax():
    probs = np.array([[[0.8, 0.2], [0.5, 0.5]], [[0.8, 0.2], [0.9, 0.1]]], np.float32)
    weights = np.array([[0.5, 1.0], [1.0, 1.0]], np.float32)
    # sample 0, epoch 1 at weight 0.5: sqrt(0.8) : sqrt(0.2) = 2 : 1, so (2/3, 1/3)
    np.testing.assert_allclose(scores.evidence_mean(probs, weights, np.ones((2, 2), bool), 0),
                               [[(2 / 3 + 0.8) / 2, (1 / 3 + 0.2) / 2], [0.7, 0.3]], rtol=1e-5)


def test_propose__only_past_the_lead_and_where_the_calibrated_gain_is_positive():
    q = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.4, 0.45, 0.15], [0.25, 0.5, 0.25],
                  [0.25, 0.52, 0.23], [0.1, 0.45, 0.45]])
    given = np.zeros(6, int)
    proposed, confidence, gain = scores.propose(q, given, None)
    # leads 0.5, -0.3, 0.05, 0.25 (not more than the line), 0.27, 0.35
    np.testing.assert_array_equal(proposed, [1, -1, -1, -1, 1, 1])
    np.testing.assert_allclose(confidence, [0.7, 0.3, 0.45, 0.5, 0.52, 0.45])
    np.testing.assert_allclose(gain, [0.5, -0.3, 0.05, 0.25, 0.27, 0.35])
    flat = fit_isotonic(np.array([0.5, 1.0]), np.array([0, 1]))  # 0 up to 0.5, then linear
    proposed, confidence, gain = scores.propose(q, given, flat)
    # the last face leads by 0.35, but 0.1 and 0.45 both map to 0: no expected gain
    np.testing.assert_array_equal(proposed, [1, -1, -1, -1, 1, -1])
    np.testing.assert_allclose(confidence, [0.4, 0.0, 0.0, 0.0, 0.04, 0.0])


def test_propose__the_ratio_rule_compares_q_by_ratio_instead_of_lead():
    q = np.array([[0.2, 0.45, 0.35, 0.0], [0.25, 0.55, 0.2, 0.0], [0.1, 0.3, 0.3, 0.3],
                  [0.5, 0.45, 0.05, 0.0]])
    given = np.zeros(4, int)
    # ratios 2.25, 2.2 (not more than the line), 3, 0.9; leads 0.25, 0.3, 0.2, -0.05
    np.testing.assert_array_equal(scores.propose(q, given, None, "ratio")[0], [1, -1, 1, -1])
    np.testing.assert_array_equal(scores.propose(q, given, None, "lead")[0], [-1, 1, -1, -1])
    np.testing.assert_array_equal(scores.propose(q, given, None)[0], [-1, 1, -1, -1])


def test_proposal_margin__difference_or_ratio():
    q_best, q_given = np.array([0.6, 0.3, 0.2]), np.array([0.2, 0.3, 0.0])
    np.testing.assert_allclose(scores.proposal_margin(q_best, q_given, "lead"), [0.4, 0.0, 0.2])
    np.testing.assert_allclose(scores.proposal_margin(q_best, q_given, "ratio"), [3.0, 1.0, np.inf])
    with pytest.raises(ValueError, match="unknown proposal rule 'odds'; choose one of: lead, ratio"):
        scores.proposal_margin(q_best, q_given, "odds")


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


def test_late_rise__the_suspects_given_label_gain_over_the_last_epochs():
    # 10 samples, 7 epochs, 2 classes, unit weights: sample 0 is the one suspect (a tenth), its
    # given label at 0.1 for 2 epochs, then memorised to 0.4; the others sit at 0.9 throughout
    given_prob = np.full((7, 10), 0.9)
    given_prob[:2, 0], given_prob[2:, 0] = 0.1, 0.4
    probs = np.stack([given_prob, 1 - given_prob], axis=2).astype(np.float32)
    weights, every_epoch = np.ones((7, 10), np.float32), np.ones((7, 10), bool)
    given = np.zeros(10, np.int64)

    def rise(p: np.ndarray) -> float:
        return scores.late_rise(scores.evidence_mean(p, weights, every_epoch, 0),
                                scores.evidence_mean(p, weights, every_epoch, scores.LATE_EPOCHS),
                                given)

    assert rise(probs) == pytest.approx(0.4 - (2 * 0.1 + 5 * 0.4) / 7, abs=1e-6)
    falling = probs[::-1].copy()
    assert rise(falling) == pytest.approx(0.1 * 2 / 5 + 0.4 * 3 / 5 - (2 * 0.1 + 5 * 0.4) / 7,
                                          abs=1e-6)


def test_sample_scores__auto_takes_the_ratio_over_every_epoch_only_past_the_late_rise(
        tmp_path, monkeypatch):
    run_dir = make_run(tmp_path, n_train=120, n_holdout=80, epochs=8, noise=0.3)
    assert runlog.read_config(run_dir).proposal_rule == "auto"  # the default
    monkeypatch.setattr(scores, "MEMORISED_RISE", -1.0)  # every run counts as memorising
    ratio = scores.sample_scores(run_dir)
    assert (ratio.attrs["proposal_rule"], ratio.attrs["proposal_window"]) == ("ratio", 0)
    pd.testing.assert_frame_equal(ratio, scores.sample_scores(run_dir, window=0, rule="ratio"))
    monkeypatch.setattr(scores, "MEMORISED_RISE", 1.0)  # no probability can rise by more than 1
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
