"""SCN maths against values worked out by hand on 1-4 row tensors."""

import math

import pytest
import torch

from curator.scn import losses


def test_weighted_logits__scales_each_row_by_its_weight():
    logits = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    alpha = torch.tensor([0.5, 2.0])
    assert torch.equal(losses.weighted_logits(logits, alpha), torch.tensor([[0.5, 1.0], [6.0, -2.0]]))


@pytest.mark.parametrize("batch, beta, expected", [
    (1, 0.7, 0),      # a batch of one has no groups
    (2, 0.7, 1),      # floor(1.4)
    (3, 0.7, 2),      # floor(2.1): 0.7*3 is 2.0999... in floating point
    (10, 0.7, 7),
    (100, 0.29, 29),  # 0.29*100 is 28.999... in floating point: still 29
    (10, 0.05, 1),    # floor(0.5) = 0, but the high group keeps one sample
    (10, 0.99, 9),    # and the low group keeps one
])
def test_high_group_size__floor_of_beta_n_within_bounds(batch, beta, expected):
    assert losses.high_group_size(batch, beta) == expected


def test_split_groups__top_weights_form_the_high_group():
    alpha = torch.tensor([0.1, 0.9, 0.5, 0.7])
    assert losses.split_groups(alpha, 0.5).tolist() == [False, True, False, True]


def test_split_groups__ties_keep_batch_order():
    alpha = torch.full((4,), 0.5)
    assert losses.split_groups(alpha, 0.5).tolist() == [True, True, False, False]


def test_rank_regularization__zero_when_gap_exceeds_margin():
    alpha = torch.tensor([0.3, 0.9, 0.2, 0.8])  # high group 0.9, 0.8
    assert losses.rank_regularization(alpha, 0.5, 0.15).item() == 0.0


def test_rank_regularization__margin_minus_gap_and_its_gradient():
    alpha = torch.tensor([0.5, 0.6, 0.5, 0.55], requires_grad=True)
    rr = losses.rank_regularization(alpha, 0.5, 0.15)
    assert rr.item() == pytest.approx(0.15 - (0.575 - 0.5))
    rr.backward()
    # d/d alpha of margin - (mean_high - mean_low): -1/M for the high group, +1/(N-M) for the low
    assert alpha.grad.tolist() == pytest.approx([0.5, -0.5, 0.5, -0.5])


def test_rank_regularization__batch_of_one_is_zero_and_differentiable():
    alpha = torch.tensor([0.3], requires_grad=True)
    rr = losses.rank_regularization(alpha, 0.7, 0.15)
    rr.backward()
    assert rr.item() == 0.0 and alpha.grad.tolist() == [0.0]


def test_scn_loss__mixes_rr_and_logit_weighted_ce():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    alpha = torch.tensor([1.0, 0.5])
    targets = torch.tensor([0, 1])
    total, wce, rr = losses.scn_loss(logits, alpha, targets, beta=0.5, margin=0.15, gamma=0.5)
    # row 1: weighted logits [2, 0], CE = log(1 + e^-2); row 2: [0, 0.5], CE = log(1 + e^-0.5)
    expected_wce = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-0.5))) / 2
    assert wce.item() == pytest.approx(expected_wce)
    assert rr.item() == 0.0  # gap 0.5 > 0.15
    assert total.item() == pytest.approx(0.5 * expected_wce)


def test_scn_loss__gamma_weights_the_rr_term():
    logits = torch.zeros(2, 2)
    alpha = torch.tensor([0.5, 0.5])
    targets = torch.tensor([0, 1])
    total, wce, rr = losses.scn_loss(logits, alpha, targets, beta=0.5, margin=0.15, gamma=0.25)
    assert wce.item() == pytest.approx(math.log(2))
    assert rr.item() == pytest.approx(0.15)
    assert total.item() == pytest.approx(0.25 * 0.15 + 0.75 * math.log(2))


PROBS = torch.tensor([[0.1, 0.6, 0.3],     # p_max - p_label = 0.5 > 0.2: relabel to 1
                      [0.5, 0.4, 0.1],     # 0.1: keep
                      [0.25, 0.25, 0.5]])  # the label is already the argmax: keep
LABELS = torch.tensor([0, 1, 2])


def test_relabel__only_when_max_beats_label_by_more_than_margin():
    everyone = torch.ones(3, dtype=torch.bool)
    assert losses.relabel(PROBS, LABELS, everyone, 0.2).tolist() == [1, -1, -1]


def test_relabel__a_gap_equal_to_the_margin_keeps_the_label():
    probs = torch.tensor([[0.25, 0.5, 0.25]])  # exact binary fractions: gap is exactly 0.25
    assert losses.relabel(probs, torch.tensor([0]), torch.tensor([True]), 0.25).tolist() == [-1]
    assert losses.relabel(probs, torch.tensor([0]), torch.tensor([True]), 0.24).tolist() == [1]


def test_relabel__zero_margin_relabels_any_non_argmax_label():
    everyone = torch.ones(3, dtype=torch.bool)
    assert losses.relabel(PROBS, LABELS, everyone, 0.0).tolist() == [1, 0, -1]


def test_relabel__low_scope_leaves_the_high_group_alone():
    high = torch.tensor([True, False, False])
    assert losses.relabel(PROBS, LABELS, ~high, 0.0).tolist() == [-1, 0, -1]
    assert losses.relabel(PROBS, LABELS, torch.ones(3, dtype=torch.bool), 0.0).tolist() == [1, 0, -1]
