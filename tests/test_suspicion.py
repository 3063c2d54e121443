"""Suspicion: SCN's weighted softmax and the suspicion score, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from curator import suspicion


def suspicion_of(probs: np.ndarray, weights: np.ndarray, given: np.ndarray) -> np.ndarray:
    """`suspicion` from records, as `sample_scores` computes it."""
    return suspicion.suspicion_score(*suspicion.given_and_best_other(probs, given, weights))


def test_suspicion_score__weighs_the_missing_given_probability_two_to_one_with_the_best_other():
    probs = np.array([[[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]],    # epoch 1
                      [[0.5, 0.4, 0.1], [0.2, 0.2, 0.6]]])   # epoch 2
    unit = np.ones((2, 2))  # plain CE: the probabilities as recorded
    # sample 0, given 0: (2*0.3 + 0.2)/3, (2*0.5 + 0.4)/3 -> (0.8 + 1.4)/6
    # sample 1, given 1: (2*0.5 + 0.4)/3, (2*0.8 + 0.6)/3 -> (1.4 + 2.2)/6
    np.testing.assert_allclose(suspicion_of(probs, unit, np.array([0, 1])), [2.2 / 6, 0.6],
                               rtol=1e-6)


def test_suspicion_score__spans_zero_to_one():
    sure = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    np.testing.assert_allclose(suspicion_of(sure, np.ones((1, 2)), np.array([0, 0])),
                               [0.0, 1.0], atol=1e-6)


def test_weighted_softmax__is_the_softmax_of_the_weighted_logits():
    logits = np.array([[2.0, 1.0, 0.0], [0.5, -1.0, 3.0]])
    alpha = np.array([0.5, 0.25])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = np.exp(logits * alpha[:, None])
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(suspicion.weighted_softmax(probs, alpha), expected, rtol=1e-5)
    # by hand: p = (0.5, 0.25, 0.25) at weight 0.5 -> (sqrt 0.5, 0.5, 0.5) / (sqrt 0.5 + 1)
    half = suspicion.weighted_softmax(np.array([[0.5, 0.25, 0.25]]), np.array([0.5]))
    np.testing.assert_allclose(half, [[0.41421356, 0.29289322, 0.29289322]], rtol=1e-6)


def test_weighted_softmax__keeps_unit_weights_as_recorded_and_flattens_towards_zero():
    probs = np.array([[0.6, 0.3, 0.1], [0.9, 0.1, 0.0]], np.float16)
    np.testing.assert_array_equal(suspicion.weighted_softmax(probs, np.ones(2, np.float16)),
                                  probs.astype(np.float32))
    flat = suspicion.weighted_softmax(probs, np.array([1e-4, 1e-4], np.float16))
    np.testing.assert_allclose(flat, 1 / 3, atol=1e-2)  # a zero probability stays finite
    assert np.isfinite(flat).all()


def test_suspicion_score__a_low_weight_makes_the_same_prediction_more_suspicious():
    probs = np.array([[[0.8, 0.15, 0.05], [0.8, 0.15, 0.05]]] * 3, np.float32)  # 3 epochs
    weights = np.array([[0.9, 0.2]] * 3, np.float32)  # SCN trusted sample 0, not sample 1
    low_trust = suspicion_of(probs, weights, np.array([0, 0]))
    assert low_trust[1] > low_trust[0]
    # sample 1's given label at weight 0.2: 0.8^0.2 / (0.8^0.2 + 0.15^0.2 + 0.05^0.2)
    p = np.array([0.8, 0.15, 0.05]) ** 0.2
    p /= p.sum()
    assert low_trust[1] == pytest.approx((2 * (1 - p[0]) + p[1]) / 3, rel=1e-5)
