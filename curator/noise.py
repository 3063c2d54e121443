"""Synthetic label noise, the SCN paper's protocol, to measure how well wrong labels are found.

Per class, round(rate x n) of its n *training* samples (rounded half up) are chosen at random and
given a label drawn uniformly from the other classes. The original label moves to `truth` (every
row gets its truth, flipped or not); validation and test rows are never flipped. The same seed
always flips the same samples to the same labels.
"""

from __future__ import annotations

import math

import numpy as np

from curator.data.manifest import Manifest
from curator.errors import CuratorError, DataError


def share_count(rate: float, n: int) -> int:
    """round(rate x n), halves up; round(..., 9) first drops float fuzz (0.35 * 10 = 3.4999...)."""
    return math.floor(round(rate * n, 9) + 0.5)


def inject_noise(manifest: Manifest, rate: float, *, seed: int) -> Manifest:
    """A copy of `manifest` with `rate` of each class's training labels flipped; truth = originals."""
    if not 0.0 <= rate < 1.0:
        raise CuratorError(f"--inject-noise must lie in [0, 1), got {rate}")
    table = manifest.table
    if "truth" in table and table["truth"].notna().any():
        raise DataError(f"{manifest.source or 'the data'} already has truth labels; inject noise "
                        "only into data given without --truth/--truth-column")
    rng = np.random.default_rng(seed)
    k = len(manifest.classes)
    labels = manifest.label_indices().to_numpy()
    noisy = labels.copy()
    train = (table["split"] == "train").to_numpy()
    for label in range(k):
        members = np.flatnonzero(train & (labels == label))
        count = share_count(rate, len(members))
        chosen = rng.choice(members, size=count, replace=False)
        # an offset 1..k-1 lands uniformly on every class except the original one
        noisy[chosen] = (label + rng.integers(1, k, size=count)) % k
    names = np.asarray(manifest.classes, dtype=object)
    noisy_table = table.assign(truth=table["label"].to_numpy(), label=names[noisy])
    return Manifest(noisy_table, manifest.classes, manifest.source)
