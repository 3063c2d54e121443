"""Benchmark: training-loader throughput (image decode + augmentation), 0 worker processes vs 2.

The loader is built as the trainer builds it for each epoch: `ImageDataset` with the training
transform (resize, flip, normalise, random erasing) and `EpochBatches`, a fresh DataLoader per
pass, so worker start-up counts as it does in training. Rounds alternate the worker counts, so
both see the same machine load. Images: DATA (any data set the importers read) or `--images`
synthetic face-sized PNGs. Prints images/s per worker count and the ratio.

    python benchmarks/data_throughput.py [DATA] [--images 512] [--source-size 100]
                                         [--image-size 224] [--batch-size 64] [--rounds 3]
                                         [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

WORKERS = (0, 2)


def synthetic_images(folder: Path, count: int, size: int) -> list[str]:
    """`count` smooth random grayscale PNGs of `size` px (compress like photographs, not noise)."""
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        coarse = rng.integers(0, 256, (size // 8, size // 8), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
        path = folder / f"{index:05d}.png"
        image.save(path)
        paths.append(str(path))
    return paths


def images_per_second(filepaths: list[str], workers: int, args: argparse.Namespace) -> float:
    """One full pass of a fresh training loader; images per second."""
    from curator.data.dataset import EpochBatches, ImageDataset, make_transform

    dataset = ImageDataset(filepaths, make_transform(args.image_size, train=True))
    generator = torch.Generator().manual_seed(0)
    batches = EpochBatches(len(dataset), args.batch_size, generator)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers, generator=generator)
    start = time.perf_counter()
    for _ in loader:
        pass
    return len(dataset) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", help="a data set the importers read (default: "
                                                "synthetic images)")
    parser.add_argument("--images", type=int, default=512, help="how many images to load")
    parser.add_argument("--source-size", type=int, default=100, help="synthetic image size (px)")
    parser.add_argument("--image-size", type=int, default=224, help="the training image size")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads of the main process")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="curator-bench-") as tmp:
        if args.data:
            from curator.data.importers import load_manifest

            filepaths = load_manifest(args.data).table["filepath"].tolist()[:args.images]
            source = args.data
        else:
            filepaths = synthetic_images(Path(tmp), args.images, args.source_size)
            source = f"synthetic {args.source_size} px PNG"
        rates: dict[int, list[float]] = {w: [] for w in WORKERS}
        for round_ in range(args.rounds):
            for workers in WORKERS if round_ % 2 == 0 else WORKERS[::-1]:
                rates[workers].append(images_per_second(filepaths, workers, args))
    print(f"{len(filepaths)} images ({source}) -> {args.image_size} px, batch {args.batch_size}, "
          f"{args.rounds} rounds, {torch.get_num_threads()} torch threads in the main process")
    for workers, values in rates.items():
        print(f"workers {workers}: {statistics.median(values):.0f} images/s (median; "
              f"min {min(values):.0f}, max {max(values):.0f})")
    ratio = statistics.median(rates[WORKERS[1]]) / statistics.median(rates[WORKERS[0]])
    print(f"workers {WORKERS[1]} / workers {WORKERS[0]}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
