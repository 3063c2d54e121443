"""curator.metrics against values worked out by hand on 4-6 samples."""

import math

import numpy as np
import pytest

from curator import metrics

SCORES = np.array([0.9, 0.8, 0.7, 0.6])
POSITIVE = np.array([1, 0, 1, 0])


def test_auroc__counts_correctly_ordered_pairs():
    # positives {0.9, 0.7} vs negatives {0.8, 0.6}: 3 of the 4 pairs are ordered right
    assert metrics.auroc(SCORES, POSITIVE) == pytest.approx(0.75)


def test_auroc__tied_pairs_count_half():
    # positives {0.5, 0.2} vs negatives {0.5, 0.5}: two ties (0.5 each) and two losses
    assert metrics.auroc([0.5, 0.5, 0.5, 0.2], [1, 0, 0, 1]) == pytest.approx(0.25)
    assert metrics.auroc([0.3, 0.3, 0.3], [1, 0, 1]) == pytest.approx(0.5)


def test_auroc__is_nan_without_both_classes():
    assert math.isnan(metrics.auroc([0.1, 0.2], [1, 1]))
    assert math.isnan(metrics.auroc([], []))


def test_precision_at_k__takes_the_top_k():
    assert metrics.precision_at_k(SCORES, POSITIVE, 1) == pytest.approx(1.0)
    assert metrics.precision_at_k(SCORES, POSITIVE, 2) == pytest.approx(0.5)
    assert metrics.precision_at_k(SCORES, POSITIVE, 3) == pytest.approx(2 / 3)


def test_precision_at_k__k_larger_than_n_uses_every_sample():
    assert metrics.precision_at_k(SCORES, POSITIVE, 10) == pytest.approx(0.5)


def test_precision_at_k__tie_at_the_cutoff_is_shared_in_expectation():
    # top-1 (0.9) is negative; one place left for two tied 0.5s of which one is positive: 0.5 hit
    assert metrics.precision_at_k([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 1], 2) == pytest.approx(0.25)


def test_precision_at_k__refuses_k_below_one():
    with pytest.raises(ValueError, match="k must be at least 1"):
        metrics.precision_at_k(SCORES, POSITIVE, 0)


def test_precision_recall_curve__one_point_per_distinct_score():
    precision, recall, thresholds = metrics.precision_recall_curve([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0])
    np.testing.assert_allclose(thresholds, [0.9, 0.8, 0.3])
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [0.5, 1.0, 1.0])


def test_average_precision__sums_precision_times_recall_step():
    # 0.5 * 1 + 0.5 * 2/3 + 0 * 0.5
    assert metrics.average_precision([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0]) == pytest.approx(5 / 6)
    assert math.isnan(metrics.average_precision([0.2, 0.1], [0, 0]))


# given 0 0 1 1 2, truth 0 1 1 2 2: samples 1 and 3 are flipped.
GIVEN = np.array([0, 0, 1, 1, 2])
TRUTH = np.array([0, 1, 1, 2, 2])
# a right proposal on sample 1, a wrong one on clean sample 2, a wrong one on flipped sample 3
PROPOSED = np.array([-1, 1, 2, 0, -1])
FINAL = np.array([0, 1, 2, 0, 2])


def test_proposal_precision_recall__hand_example():
    precision, recall = metrics.proposal_precision_recall(GIVEN, PROPOSED, TRUTH)
    assert precision == pytest.approx(1 / 3)
    assert recall == pytest.approx(1 / 2)


def test_proposal_precision_recall__empty_proposal_set():
    precision, recall = metrics.proposal_precision_recall(GIVEN, np.full(5, -1), TRUTH)
    assert math.isnan(precision)
    assert recall == 0.0


def test_flips_corrected__share_of_flipped_samples_fixed():
    assert metrics.flips_corrected(GIVEN, FINAL, TRUTH) == pytest.approx(0.5)
    assert math.isnan(metrics.flips_corrected(TRUTH, FINAL, TRUTH))


def test_clean_labels_changed__counts_correct_labels_overwritten():
    assert metrics.clean_labels_changed(GIVEN, FINAL, TRUTH) == 1
    assert metrics.clean_labels_changed(GIVEN, GIVEN, TRUTH) == 0


def test_net_gain__one_fixed_one_broken_is_zero():
    assert metrics.net_gain(GIVEN, FINAL, TRUTH) == 0
    assert metrics.net_gain(GIVEN, TRUTH, TRUTH) == 2


def test_label_metrics__refuse_arrays_of_different_length():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.net_gain(GIVEN, FINAL[:3], TRUTH)


# best_correction: samples 0 and 2 are wrong and propose their truth; 1, 3, 4 are right.
BC_GIVEN, BC_TRUTH = [0, 0, 0, 0, 1], [1, 0, 2, 0, 1]
BC_CANDIDATE, BC_STRENGTH = [1, 1, 2, 2, 0], [0.9, 0.8, 0.5, 0.5, 0.1]


def test_best_correction__takes_tied_strengths_together():
    # one right label may change: cutting inside the 0.5 tie would fix both wrong labels with one
    # change, but a threshold takes the tie whole (2 changes), so the best is the first proposal
    share, changed = metrics.best_correction(BC_GIVEN, BC_CANDIDATE, BC_STRENGTH, BC_TRUTH,
                                             max_clean_share=1 / 3)
    assert (share, changed) == (0.5, 0)


def test_best_correction__a_larger_budget_reaches_every_fix():
    share, changed = metrics.best_correction(BC_GIVEN, BC_CANDIDATE, BC_STRENGTH, BC_TRUTH,
                                             max_clean_share=2 / 3)
    assert (share, changed) == (1.0, 2)


def test_best_correction__nan_without_wrong_labels():
    share, changed = metrics.best_correction([0, 1], [1, 0], [0.5, 0.4], [0, 1],
                                             max_clean_share=0.5)
    assert math.isnan(share) and changed == 0


def test_expected_calibration_error__one_sample_per_bin():
    # gaps 0.15, 0.75, 0.15, 0.05 in four separate bins
    ece = metrics.expected_calibration_error([0.15, 0.25, 0.85, 0.95], [0, 1, 1, 1])
    assert ece == pytest.approx(1.1 / 4)


def test_expected_calibration_error__two_bins_average_within_a_bin():
    # bin (0, .5]: confidence .2, accuracy .5; bin (.5, 1]: confidence .9, accuracy 1
    ece = metrics.expected_calibration_error([0.15, 0.25, 0.85, 0.95], [0, 1, 1, 1], n_bins=2)
    assert ece == pytest.approx(0.5 * 0.3 + 0.5 * 0.1)
    assert math.isnan(metrics.expected_calibration_error([], []))


def test_reliability_bins__bin_edges_belong_to_the_lower_bin():
    confidence, accuracy, count = metrics.reliability_bins([0.0, 0.3, 0.5, 1.0], [1, 0, 1, 1], n_bins=10)
    assert count.tolist() == [1, 0, 1, 0, 1, 0, 0, 0, 0, 1]
    assert accuracy[2] == 0.0 and confidence[2] == pytest.approx(0.3)
    assert np.isnan(accuracy[1])


def test_confusion_matrix__rows_are_truth_columns_predictions():
    confusion = metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_per_class_accuracy__diagonal_over_row_sums_nan_for_absent_classes():
    accuracy = metrics.per_class_accuracy(np.array([[1, 1, 0], [0, 2, 0], [0, 0, 0]]))
    assert accuracy[:2].tolist() == [0.5, 1.0] and math.isnan(accuracy[2])
