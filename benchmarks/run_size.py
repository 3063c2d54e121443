"""Benchmark: disk size of a run directory per 100,000 training samples x 40 epochs, 7 classes.

Writes the synthetic run of `review_load.py` (`runlog.write_epoch` per epoch, probabilities that
drift towards the true class, continuous weights) and measures the folder. Records grow with
samples x epochs; checkpoints do not: they are the size of the backbone (`best.pt` = the model,
`last.pt` = model + SGD momentum + the label table), so they are measured for `--backbone`
separately and added. Target: at most 200 MB per 100,000 samples x 40 epochs; both sizes, with
and without checkpoints, are checked against it.

    python benchmarks/run_size.py [--samples 100000] [--epochs 40] [--backbone resnet18|none]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from review_load import CLASSES, write_synthetic_run

TARGET_MB = 200.0
REFERENCE = 100_000 * 40  # samples x epochs the target is stated for


def folder_bytes(folder: Path) -> int:
    """Total size of the files under `folder`."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def write_checkpoints(run_dir: Path, backbone: str, samples: int) -> None:
    """`best.pt` and `last.pt` as the trainer writes them, for an SGD-trained `backbone`."""
    from curator.config import TrainConfig
    from curator.scn.model import build_model
    from curator.train import checkpoint

    model, _ = build_model(TrainConfig(backbone=backbone, pretrained=False), len(CLASSES))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _, logits = model(torch.randn(2, 3, 32, 32))
    logits.sum().backward()
    optimizer.step()  # creates the momentum buffers that last.pt carries
    checkpoint.save(run_dir, "best", {"model": model.state_dict(), "epoch": 1, "accuracy": 0.0})
    checkpoint.save(run_dir, "last", {"model": model.state_dict(),
                                      "optimizer": optimizer.state_dict(),
                                      "labels": np.zeros(samples, np.int64), "epoch": 1})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--backbone", default="resnet18", help="for the checkpoints; none = skip")
    args = parser.parse_args(argv)

    from curator import runlog

    with tempfile.TemporaryDirectory(prefix="curator-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        write_synthetic_run(run_dir, args.samples, args.epochs)
        records = folder_bytes(run_dir / runlog.RECORDS)
        other = folder_bytes(run_dir) - records
        if args.backbone != "none":
            write_checkpoints(run_dir, args.backbone, args.samples)
        checkpoints = folder_bytes(run_dir / runlog.CHECKPOINTS)
    scale = REFERENCE / (args.samples * args.epochs)
    per_reference = (records + other) * scale / 1e6  # the manifest also grows with samples
    total = per_reference + checkpoints / 1e6
    print(f"{args.samples:,} samples x {args.epochs} epochs x {len(CLASSES)} classes: records "
          f"{records / 1e6:.1f} MB ({records / (args.samples * args.epochs):.1f} bytes per sample "
          f"per epoch), other files {other / 1e6:.1f} MB")
    print(f"checkpoints ({args.backbone}): {checkpoints / 1e6:.1f} MB")
    print(f"per 100,000 samples x 40 epochs: {per_reference:.1f} MB without checkpoints "
          f"({_verdict(per_reference)}), {total:.1f} MB with ({_verdict(total)})")


def _verdict(megabytes: float) -> str:
    return "ok" if megabytes <= TARGET_MB else f"over the {TARGET_MB:.0f} MB target"

if __name__ == "__main__":
    main()
