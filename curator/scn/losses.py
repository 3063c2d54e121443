"""The SCN maths as pure functions on tensors (Wang et al., CVPR 2020, Sec. 3.2-3.4).

- `weighted_logits`: logits scaled per sample by the importance weight alpha (Eq. 2's alpha_i W^T x_i).
- `split_groups` + `rank_regularization`: sort alpha in the mini-batch, the top floor(beta*N) samples
  form the high group, the rest the low group; RR = max(0, delta_1 - (mean_high - mean_low)) (Eq. 3-4).
- `relabel`: y' = argmax p if p_max - p_given > delta_2, else y (Eq. 5); paper scope = low group only,
  the authors' code applies it to the whole batch.

The trap to avoid: alpha collapsing to ~1 for every sample makes RR a constant 0 and SCN a plain CE
network; the trainer logs the weight spread per epoch (curator.train.summary) so a collapse is visible.
"""

from __future__ import annotations

import torch
from torch import Tensor

NO_LABEL = -1


def weighted_logits(logits: Tensor, alpha: Tensor) -> Tensor:
    """Scale each row of (N, K) logits by its importance weight alpha (N,)."""
    return logits * alpha.unsqueeze(1)


def high_group_size(batch: int, beta: float) -> int:
    """M = floor(beta * N), kept within [1, N-1] so both groups exist; 0 for a batch of one."""
    if batch < 2:
        return 0
    return min(max(int(beta * batch + 1e-9), 1), batch - 1)


def split_groups(alpha: Tensor, beta: float) -> Tensor:
    """Boolean mask (N,) of the high-importance group; ties keep batch order (stable sort)."""
    order = torch.sort(alpha.detach(), descending=True, stable=True).indices
    top = order[: high_group_size(len(alpha), beta)]
    return torch.zeros_like(alpha, dtype=torch.bool).scatter_(0, top, True)  # no host sync


def rank_regularization(alpha: Tensor, beta: float, margin: Tensor | float) -> Tensor:
    """max(0, margin - (mean_high - mean_low)) over alpha sorted in descending order, the high
    group its first `high_group_size` values; zero for a batch of one. Sizes come from the batch
    shape, so on a GPU nothing waits for a count."""
    size = high_group_size(len(alpha), beta)
    if size == 0:
        return alpha.sum() * 0.0
    ranked = torch.sort(alpha, descending=True, stable=True).values
    return torch.clamp(margin - (ranked[:size].mean() - ranked[size:].mean()), min=0.0)


def scn_loss(logits: Tensor, alpha: Tensor, targets: Tensor, *, beta: float,
             margin: Tensor | float, gamma: float) -> tuple[Tensor, Tensor, Tensor]:
    """Total loss gamma*RR + (1-gamma)*WCE; returns (total, wce, rr)."""
    wce = torch.nn.functional.cross_entropy(weighted_logits(logits, alpha), targets)
    rr = rank_regularization(alpha, beta, margin)
    return gamma * rr + (1.0 - gamma) * wce, wce, rr


def relabel(probs: Tensor, labels: Tensor, eligible: Tensor, margin: float) -> Tensor:
    """New label per sample: argmax where eligible and p_max - p_label > margin, else NO_LABEL.

    `probs` (N, K) are softmax probabilities, `labels` (N,) the current labels, `eligible` (N,) bool
    (the low group for the paper's rule, all True for the authors' whole-batch rule). A sample whose
    argmax already is its label is never proposed (p_max - p_label = 0).
    """
    p_max, best = probs.max(dim=1)
    p_label = probs.gather(1, labels.unsqueeze(1)).squeeze(1)
    change = eligible & (p_max - p_label > margin)
    return torch.where(change, best, torch.full_like(best, NO_LABEL))
