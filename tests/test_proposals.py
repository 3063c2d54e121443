"""Proposals: the evidence means, the proposal rules and `auto`'s settling, against hand-computed
values."""

from __future__ import annotations

import numpy as np
import pytest

from curator import proposals
from curator.calibration import fit_isotonic


def test_evidence_mean__uses_the_last_epochs_trained_on_the_given_label():
    probs = np.array([[[0.9, 0.1]], [[0.7, 0.3]], [[0.5, 0.5]], [[0.1, 0.9]]], np.float32)
    unit = np.ones((4, 1), np.float32)  # plain CE
    evidence = np.array([[True], [True], [True], [False]])  # relabelled before epoch 4
    np.testing.assert_allclose(proposals.evidence_mean(probs, unit, evidence, 2), [[0.6, 0.4]])
    none = np.zeros((4, 1), bool)  # relabelled from the start: every epoch counts
    np.testing.assert_allclose(proposals.evidence_mean(probs, unit, none, 2), [[0.55, 0.45]])
    # window 0: every epoch trained on the given label
    np.testing.assert_allclose(proposals.evidence_mean(probs, unit, evidence, 0), [[0.7, 0.3]],
                               rtol=1e-6)


def test_evidence_mean__averages_the_weighted_softmax():
    probs = np.array([[[0.8, 0.2], [0.5, 0.5]], [[0.8, 0.2], [0.9, 0.1]]], np.float32)
    weights = np.array([[0.5, 1.0], [1.0, 1.0]], np.float32)
    # sample 0, epoch 1 at weight 0.5: sqrt(0.8) : sqrt(0.2) = 2 : 1, so (2/3, 1/3)
    np.testing.assert_allclose(proposals.evidence_mean(probs, weights, np.ones((2, 2), bool), 0),
                               [[(2 / 3 + 0.8) / 2, (1 / 3 + 0.2) / 2], [0.7, 0.3]], rtol=1e-5)


def test_propose__only_past_the_lead_and_where_the_calibrated_gain_is_positive():
    q = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.4, 0.45, 0.15], [0.25, 0.5, 0.25],
                  [0.25, 0.52, 0.23], [0.1, 0.45, 0.45]])
    given = np.zeros(6, int)
    proposed, confidence, gain = proposals.propose(q, given, None)
    # leads 0.5, -0.3, 0.05, 0.25 (not more than the line), 0.27, 0.35
    np.testing.assert_array_equal(proposed, [1, -1, -1, -1, 1, 1])
    np.testing.assert_allclose(confidence, [0.7, 0.3, 0.45, 0.5, 0.52, 0.45])
    np.testing.assert_allclose(gain, [0.5, -0.3, 0.05, 0.25, 0.27, 0.35])
    flat = fit_isotonic(np.array([0.5, 1.0]), np.array([0, 1]))  # 0 up to 0.5, then linear
    proposed, confidence, gain = proposals.propose(q, given, flat)
    # the last face leads by 0.35, but 0.1 and 0.45 both map to 0: no expected gain
    np.testing.assert_array_equal(proposed, [1, -1, -1, -1, 1, -1])
    np.testing.assert_allclose(confidence, [0.4, 0.0, 0.0, 0.0, 0.04, 0.0])


def test_propose__the_ratio_rule_compares_q_by_ratio_instead_of_lead():
    q = np.array([[0.2, 0.45, 0.35, 0.0], [0.25, 0.55, 0.2, 0.0], [0.1, 0.3, 0.3, 0.3],
                  [0.5, 0.45, 0.05, 0.0]])
    given = np.zeros(4, int)
    # ratios 2.25, 2.2 (not more than the line), 3, 0.9; leads 0.25, 0.3, 0.2, -0.05
    np.testing.assert_array_equal(proposals.propose(q, given, None, "ratio")[0], [1, -1, 1, -1])
    np.testing.assert_array_equal(proposals.propose(q, given, None, "lead")[0], [-1, 1, -1, -1])
    np.testing.assert_array_equal(proposals.propose(q, given, None)[0], [-1, 1, -1, -1])


def test_proposal_margin__difference_or_ratio():
    q_best, q_given = np.array([0.6, 0.3, 0.2]), np.array([0.2, 0.3, 0.0])
    np.testing.assert_allclose(proposals.proposal_margin(q_best, q_given, "lead"), [0.4, 0.0, 0.2])
    np.testing.assert_allclose(proposals.proposal_margin(q_best, q_given, "ratio"), [3.0, 1.0, np.inf])
    with pytest.raises(ValueError, match="unknown proposal rule 'odds'; choose one of: lead, ratio"):
        proposals.proposal_margin(q_best, q_given, "odds")


def memorising_run(rising: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """10 samples, 7 epochs, 2 classes, unit weights: sample 0 is the one suspect (a tenth), its
    given label at 0.1 for 2 epochs, then memorised to 0.4 (the epochs reversed unless `rising`);
    the others sit at 0.9 throughout. Returns probs, weights, evidence (every epoch), given."""
    given_prob = np.full((7, 10), 0.9)
    given_prob[:2, 0], given_prob[2:, 0] = 0.1, 0.4
    probs = np.stack([given_prob, 1 - given_prob], axis=2).astype(np.float32)
    probs = probs if rising else probs[::-1].copy()
    return probs, np.ones((7, 10), np.float32), np.ones((7, 10), bool), np.zeros(10, np.int64)


def test_late_rise__the_suspects_given_label_gain_over_the_last_epochs():
    def rise(probs, weights, evidence, given) -> float:
        return proposals.late_rise(proposals.evidence_mean(probs, weights, evidence, 0),
                                   proposals.evidence_mean(probs, weights, evidence,
                                                           proposals.LATE_EPOCHS), given)

    assert rise(*memorising_run(True)) == pytest.approx(0.4 - (2 * 0.1 + 5 * 0.4) / 7, abs=1e-6)
    assert rise(*memorising_run(False)) == pytest.approx(
        0.1 * 2 / 5 + 0.4 * 3 / 5 - (2 * 0.1 + 5 * 0.4) / 7, abs=1e-6)


def test_settle_rule__auto_takes_the_ratio_over_every_epoch_past_the_late_rise():
    for rising, settled in ((True, ("ratio", 0)), (False, ("lead", 3))):
        probs, weights, evidence, given = memorising_run(rising)
        windows = []

        def q_of(window: int) -> np.ndarray:
            windows.append(window)
            return proposals.evidence_mean(probs, weights, evidence, window)

        rule, window, rise = proposals.settle_rule("auto", 3, q_of, given)
        assert (rule, window) == settled
        assert rise == pytest.approx(0.4 - 2.2 / 7 if rising else 0.04 + 0.24 - 2.2 / 7, abs=1e-6)
        assert sorted(windows) == [0, proposals.LATE_EPOCHS]


def test_settle_rule__a_fixed_rule_is_kept_without_reading_the_records():
    def q_of(window: int) -> np.ndarray:
        raise AssertionError("a fixed rule reads no evidence")

    assert proposals.settle_rule("lead", 3, q_of, np.zeros(4, np.int64)) == ("lead", 3, None)
    assert proposals.settle_rule("ratio", 0, q_of, np.zeros(4, np.int64)) == ("ratio", 0, None)


def test_describe_rule__the_rule_its_window_and_auto_s_late_rise_in_words():
    assert proposals.describe_rule(
        {"proposal_rule": "lead", "proposal_window": 5, "late_rise": None}) == "lead, last 5 epochs"
    switched = {"proposal_rule": "ratio", "proposal_window": 0, "late_rise": 0.0934}
    assert proposals.describe_rule(switched) == "ratio, every epoch; auto: late rise +0.093"
