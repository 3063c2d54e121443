"""Build small, seeded run directories (real tiny PNGs, real record files) for export/report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from curator import runlog
from curator.config import TrainConfig
from curator.data import manifest as manifest_module

CLASSES = ("angry", "happy", "neutral", "sad")


def make_run(root: Path, *, n_train: int = 24, n_val: int = 0, n_holdout: int = 0,
             epochs: int = 3, relabel_epoch: int = 2, noise: float = 0.25, truth: bool = True,
             classes: tuple[str, ...] = CLASSES, state: str = "finished", seed: int = 0) -> Path:
    """A run directory under `root` whose flipped samples get low probability and low weight;
    `n_holdout` samples after the training ones form the held-out part (predicted, not trained)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_holdout + n_val
    k = len(classes)
    true_idx = np.arange(n) % k
    flipped = np.zeros(n, bool)
    scored = n_train + n_holdout
    flipped[rng.choice(scored, int(round(noise * scored)), replace=False)] = True
    given_idx = np.where(flipped, (true_idx + rng.integers(1, k, n)) % k, true_idx)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = images / f"face_{i:03d}.png"
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        Image.new("RGB", (32, 32), colour).save(path)
        paths.append(str(path.resolve()))
    rows = pd.DataFrame({"filepath": paths, "label": [classes[i] for i in given_idx],
                         "split": ["train"] * n_train + ["holdout"] * n_holdout + ["val"] * n_val})
    if truth:
        rows["truth"] = [classes[i] for i in true_idx]
    manifest = manifest_module.build(rows, classes, str(root / "labels.csv"))
    run_dir = root / "run"
    config = TrainConfig(data=str(root / "labels.csv"), epochs=epochs, relabel=True,
                         relabel_epoch=relabel_epoch)
    runlog.create(run_dir, config, manifest)

    ids = np.arange(n_train)
    held = np.arange(n_train, n)  # the holdout samples and the validation rows
    current = given_idx[:n_train].copy()
    for epoch in range(1, epochs + 1):
        logits = rng.normal(0, 1.5, (n, k))
        logits[np.arange(n), true_idx] += 2.0 + 0.2 * epoch
        logits[ids, given_idx[:n_train]] += 0.3 * epoch  # the network slowly memorises flips
        all_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        all_weights = np.clip(rng.normal(0.7, 0.1, n) - 0.05 * flipped, 0.01, 0.99)
        if len(held):
            runlog.write_holdout(run_dir, epoch, {
                "sample_id": held, "given_label": given_idx[held], "weight": all_weights[held],
                "pred_label": all_probs[held].argmax(axis=1), "probs": all_probs[held]})
        probs, weight = all_probs[:n_train], all_weights[:n_train]
        high = weight >= np.median(weight)
        pred = probs.argmax(axis=1)
        relabel = (epoch >= relabel_epoch) & ~high & (pred != current)
        proposed = np.where(relabel, pred, runlog.NO_LABEL)
        runlog.write_epoch(run_dir, epoch, {
            "sample_id": ids, "given_label": given_idx[:n_train], "current_label": current,
            "weight": weight, "high": high, "pred_label": pred, "proposed_label": proposed,
            "probs": probs})
        runlog.write_metrics(run_dir, {"epoch": epoch, "train_loss": 1.0 / epoch,
                                       "weight_high": weight[high].mean(),
                                       "weight_low": weight[~high].mean()})
        current = np.where(relabel, pred, current)
    runlog.write_info(run_dir, state=state, epochs_done=epochs)
    return run_dir
