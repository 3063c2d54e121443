"""How likely a sample's given label is wrong, from its per-epoch training-pass probabilities.

Convention (kept everywhere): **higher `suspicion` = the given label is more likely wrong**.

`suspicion` = the mean over all epochs of (2 (1 - p(given)) + max p(other class)) / 3, in [0, 1]:
the given label's missing probability and the best other class's probability, two to one. It
orders samples exactly as the average of the given label's mean probability and its Area Under
the Margin (Pleiss et al. 2020) does. Averaging over the whole run catches labels the network
only memorises late: it ranked synthetic flips far better than SCN's final weight. Of the two,
the given label's probability ranked flips on real faces better and the margin everything else;
this score ranks at least as well as the margin on the faces and within 0.005 AUROC of it
elsewhere (docs/BENCHMARKS.md, "Which suspicion statistic").

p is SCN's prediction as its loss trains it, the softmax of the *weighted* logits
(`weighted_softmax`; plain CE runs have weight 1): a low weight flattens it, so the given label
counts for less. That ranked wrong labels better than the unweighted softmax in 92 of 103 SCN
runs (docs/BENCHMARKS.md, "Suspicion from the weighted logits"). The trap: p must come from
the *training-pass* records of every epoch; the final model's probabilities rank wrong labels
far worse.
"""

from __future__ import annotations

import numpy as np

# The smallest positive float16 (subnormal): a recorded probability of 0 stands for less.
FLOAT16_TINY = np.float32(2.0 ** -24)


def suspicion_score(given_mean: np.ndarray, other_mean: np.ndarray) -> np.ndarray:
    """(2 (1 - p(given)) + max p(other class)) / 3 from the all-epoch means of the two
    (`given_and_best_other`)."""
    return (2.0 * (1.0 - given_mean) + other_mean) / 3.0


def given_and_best_other(probs: np.ndarray, given: np.ndarray, weights: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, the means over epochs of p(given) and of the highest probability of another
    class, p = the `weighted_softmax` of probs (epochs, samples, classes) and weights (epochs,
    samples; all 1 for plain CE)."""
    rows = np.arange(probs.shape[1])
    given_total, other_total = np.zeros(probs.shape[1]), np.zeros(probs.shape[1])
    # one epoch at a time: a copy of all epochs is 3x slower at 100,000 samples
    for e, epoch in enumerate(probs):
        others = weighted_softmax(epoch, weights[e])  # a copy: the mask below writes into it
        given_total += others[rows, given]
        others[rows, given] = -np.inf
        other_total += others.max(axis=1)
    return given_total / len(probs), other_total / len(probs)


def weighted_softmax(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """softmax(w z) from p = softmax(z) (N, K) and the weights w (N,): p^w / sum p^w, the
    probabilities of SCN's weighted logits, as a new float32 array. All-unit weights (plain CE)
    return p as recorded; a recorded 0 counts as the smallest float16 value, the records' dtype."""
    out = probs.astype(np.float32)
    if np.all(weights == 1):
        return out
    np.log(np.maximum(out, FLOAT16_TINY, out=out), out=out)
    out *= weights[:, None]
    out -= out.max(axis=1, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def best_other_class(q: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Per row of q (N, K), the class with the highest value other than the given one."""
    others = q.copy()
    others[np.arange(len(given)), given] = -np.inf
    return others.argmax(axis=1)
