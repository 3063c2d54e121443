"""Benchmark: load a large synthetic run directory into FiftyOne with `curator.review.load_run`.

Writes a run of 100,000 training samples x 40 epochs x 7 classes with the runlog writers (image
files need not exist to load), then times a first load and a re-load that keeps decisions.
Target: under 2 minutes per load on a 2-core CPU.

    python benchmarks/review_load.py [--samples N] [--epochs E]

FiftyOne runs on a throwaway database in a temporary folder, never the user's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def write_synthetic_run(run_dir: Path, samples: int, epochs: int, *, seed: int = 0) -> None:
    """A run whose 20% flipped labels drift towards their true class over the epochs."""
    from curator import runlog
    from curator.config import TrainConfig
    from curator.data import manifest

    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    truth = rng.integers(0, k, samples)
    flipped = rng.random(samples) < 0.2
    given = np.where(flipped, (truth + rng.integers(1, k, samples)) % k, truth)
    rows = pd.DataFrame({
        "filepath": [f"/data/faces/{i:06d}.png" for i in range(samples)],
        "label": np.asarray(CLASSES)[given],
        "truth": np.asarray(CLASSES)[truth],
    })
    table = manifest.build(rows, CLASSES, "synthetic benchmark")
    runlog.create(run_dir, TrainConfig(epochs=epochs, image_size=48), table)
    for epoch in range(1, epochs + 1):
        logits = rng.normal(0, 1, (samples, k))
        logits[np.arange(samples), truth] += 1.0 + 3.0 * epoch / epochs
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        weight = np.where(flipped, rng.uniform(0.2, 0.6, samples), rng.uniform(0.5, 1.0, samples))
        predicted = probs.argmax(axis=1)
        runlog.write_epoch(run_dir, epoch, {
            "sample_id": np.arange(samples), "given_label": given, "current_label": given,
            "weight": weight, "high": weight > np.median(weight), "pred_label": predicted,
            "proposed_label": np.where(predicted != given, predicted, runlog.NO_LABEL),
            "probs": probs,
        })
    runlog.write_info(run_dir, state="finished", epochs_done=epochs)


def benchmark(work: Path, samples: int, epochs: int) -> None:
    """Write the run under `work`, then time a first load and a decision-keeping re-load."""
    run_dir = work / "run"
    start = time.perf_counter()
    write_synthetic_run(run_dir, samples, epochs)
    print(f"wrote {samples:,} samples x {epochs} epochs in {time.perf_counter() - start:.1f} s")

    from curator import review  # imports fiftyone: only after its database folder is set

    review.connect()
    name = "curator-benchmark-review-load"
    for step in ("first load", "re-load keeping decisions"):
        start = time.perf_counter()
        dataset = review.load_run(run_dir, name=name)
        seconds = time.perf_counter() - start
        print(f"{step}: {len(dataset):,} samples in {seconds:.1f} s "
              f"({len(dataset) / seconds:,.0f} samples/s)")
        if step == "first load":
            review.accept(dataset.limit(1000))
    print("statuses after the re-load:", review.summary(dataset))
    dataset.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="curator-bench-"))
    os.environ.pop("FIFTYONE_DATABASE_URI", None)
    os.environ.update(FIFTYONE_DATABASE_DIR=str(work / "db"), FIFTYONE_DO_NOT_TRACK="true",
                      FIFTYONE_DATABASE_VALIDATION="false")
    try:
        benchmark(work, args.samples, args.epochs)
    finally:
        database = sys.modules.get("fiftyone.core.odm.database")
        service = getattr(database, "_db_service", None)  # stop mongod before deleting its files
        if service is not None:
            service.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
