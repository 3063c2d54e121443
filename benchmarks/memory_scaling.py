"""Benchmark: peak memory of `curator train` as the data set grows (images stream from disk).

Writes synthetic 32 px PNG faces (7 class folders) for each size, trains one epoch of the compact
backbone on the CPU with a fixed batch size, and reads the peak resident set size of the training
process from the kernel (wait4's ru_maxrss; with --nproc, the largest process). Target: the
largest data set peaks within 10% of the smallest, i.e. memory is bounded by the batch, not by
the number of images.

    python benchmarks/memory_scaling.py [--sizes 500 5000] [--nproc 1] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
TOLERANCE = 0.10


def write_images(root: Path, count: int, *, side: int = 32, seed: int = 0) -> None:
    """`count` noisy single-colour PNGs spread over the class folders."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 226, (len(CLASSES), 3))
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        k = i % len(CLASSES)
        pixels = np.clip(colours[k] + rng.normal(0, 30, (side, side, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / CLASSES[k] / f"{i:06d}.png")


def peak_rss_of_training(data: Path, run_dir: Path, *, nproc: int, batch_size: int) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one `curator train` epoch on `data`."""
    command = [sys.executable, "-m", "curator_cli.main", "train", str(data), "--out", str(run_dir),
               "--backbone", "compact", "--no-pretrained", "--image-size", "32", "--epochs", "1",
               "--batch-size", str(batch_size), "--device", "cpu", "--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FIFTYONE_DO_NOT_TRACK": "true"}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"curator train failed:\n{process.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--nproc", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    peaks = []
    with tempfile.TemporaryDirectory(prefix="curator-bench-memory-") as tmp:
        for size in args.sizes:
            data = Path(tmp) / f"images_{size}"
            write_images(data, size)
            peak, seconds = peak_rss_of_training(data, Path(tmp) / f"run_{size}", nproc=args.nproc,
                                                 batch_size=args.batch_size)
            peaks.append(peak)
            print(f"{size:>7,} images: peak RSS {peak:7.1f} MiB  ({seconds:.1f} s, 1 epoch, "
                  f"--nproc {args.nproc}, --batch-size {args.batch_size})")
    growth = peaks[-1] / peaks[0] - 1
    verdict = "flat: ok" if abs(growth) <= TOLERANCE else f"over the {TOLERANCE:.0%} target"
    print(f"{args.sizes[-1] / args.sizes[0]:.0f}x the images -> peak RSS {growth:+.1%} ({verdict})")


if __name__ == "__main__":
    main()
