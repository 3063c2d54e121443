"""Benchmark: SCN's time per training step against plain cross-entropy's, in one process.

Both methods get the same backbone, batch size and images: one fixed batch of random pixels, so
data loading stays out of the measurement. Each round runs `--steps` steps of one method and then
of the other (which goes first alternates), each from the same starting weights, through
`curator.train.epoch.train_epoch`: the trainer's real step with its per-sample records and SCN's
relabel proposals. Interleaving makes both share the same machine load; the ratio is the median
over rounds of SCN's time / CE's time in that round. Target: at most 1.05.

    python benchmarks/step_time.py [--backbone compact] [--image-size 48] [--batch-size 64]
                                   [--rounds 10] [--steps 5] [--device auto] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

TARGET_RATIO = 1.05
CLASSES = 7


def stepper(method: str, args: argparse.Namespace, images: torch.Tensor,
            device: torch.device) -> Callable[[], float]:
    """A function that runs `args.steps` training steps of `method` on the fixed batch, from the
    same starting weights every time so every round does the same work, and returns the seconds
    they took."""
    from curator.config import TrainConfig
    from curator.scn.model import build_model
    from curator.train.epoch import Learner, Margin, train_epoch

    config = TrainConfig.from_recipe("paper", method=method, backbone=args.backbone,
                                     pretrained=False, image_size=args.image_size,
                                     batch_size=len(images), device=device.type)
    torch.manual_seed(0)
    model, _ = build_model(config, CLASSES)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    margin = Margin(config.margin_1, config.learn_margin).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    learner = Learner(model, model, margin, optimizer, None, device)
    labels = np.random.default_rng(0).integers(0, CLASSES, len(images))
    batches = [(images, torch.arange(len(images)))] * args.steps
    start_state = copy.deepcopy((model.state_dict(), optimizer.state_dict()))

    def run() -> float:
        model.load_state_dict(start_state[0])
        optimizer.load_state_dict(start_state[1])
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        train_epoch(learner, batches, labels.copy(), config)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="compact")
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5, help="steps per method per round")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from curator.train.trainer import resolve_device

    device = resolve_device(args.device)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    methods = {name: stepper(name, args, images, device) for name in ("scn", "ce")}
    for run in methods.values():  # warm-up: allocator, kernels, first-touch
        run()
    seconds: dict[str, list[float]] = {"scn": [], "ce": []}
    for round_ in range(args.rounds):
        order = ("scn", "ce") if round_ % 2 == 0 else ("ce", "scn")
        for name in order:
            seconds[name].append(methods[name]() / args.steps)
    ratio = statistics.median(s / c for s, c in zip(seconds["scn"], seconds["ce"]))
    print(f"{args.backbone}, {args.image_size} px, batch {args.batch_size}, {device}, "
          f"{torch.get_num_threads()} threads, {args.rounds} rounds x {args.steps} steps")
    for name, values in seconds.items():
        print(f"{name}: {statistics.median(values) * 1000:.1f} ms/step (median; "
              f"min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")
    verdict = "ok" if ratio <= TARGET_RATIO else f"over the {TARGET_RATIO} target"
    print(f"SCN / CE time per step: {ratio:.3f} ({verdict})")


if __name__ == "__main__":
    main()
