"""Training over several processes with torch.distributed: which process this is, the few
messages the trainer exchanges, and `curator train --nproc N`.

A process started by torchrun (`WORLD_SIZE` > 1 in its environment) joins a gloo process group
for the trainer's own messages (run set-up, checkpoints, per-sample records) and trains through
DistributedDataParallel: gloo on CPU, an NCCL group on `cuda:LOCAL_RANK`. Any other process is a
group of one that never touches torch.distributed, so single-process runs are unchanged.
Rank 0 alone reads and writes the run directory and hands the others what they need, so on
several nodes only the images must be visible everywhere (at the same paths).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from curator.errors import CuratorError, RunError

T = TypeVar("T")
# Rank 0 alone imports and checks every image of a new run while the others wait for its
# manifest; the default 30 minutes is too short for a few million images on network storage.
SETUP_TIMEOUT = timedelta(hours=3)


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes; a group of one sends no messages."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that reads and writes the run directory and reports."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The device this process trains on: `cuda:LOCAL_RANK` when distributed on CUDA."""
        if self.world == 1 or device.type != "cuda":
            return device
        visible = torch.cuda.device_count()
        if self.local_rank >= visible:
            raise RunError(f"process {self.rank} has LOCAL_RANK {self.local_rank} but this node "
                           f"has {visible} CUDA GPU(s); start at most {visible} processes per "
                           "node (--nproc / torchrun --nproc-per-node)")
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def data_parallel(self, model: nn.Module, device: torch.device) -> nn.Module:
        """`model` wrapped in DistributedDataParallel when distributed, else `model` itself."""
        if self.world == 1:
            return model
        # static_graph: every step runs the same graph, and it lets DDP skip parameters the
        # forward never uses (the pretrained inception_resnet_v1 keeps facenet's VGGFace2
        # classifier), which plain DDP refuses at the second step.
        if device.type == "cuda":
            return DistributedDataParallel(model, device_ids=[device.index], static_graph=True,
                                           process_group=dist.new_group(backend="nccl"))
        return DistributedDataParallel(model, static_graph=True)

    def broadcast(self, value: T) -> T:
        """Rank 0's `value`, on every process."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, value: T) -> list[T]:
        """Every process's `value`, in rank order, on every process."""
        if self.world == 1:
            return [value]
        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def on_main(self, action: Callable[[], T]) -> T:
        """Run `action` on rank 0 only; every process returns its result or raises its CuratorError."""
        result, error = None, None
        if self.is_main:
            try:
                result = action()
            except CuratorError as caught:
                error = caught
        result, error = self.broadcast((result, error))
        if error is not None:
            raise error
        return result


@contextlib.contextmanager
def joined() -> Iterator[Group]:
    """This process's Group; under torchrun, membership of the process group while in the block."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield Group()
        return
    dist.init_process_group("gloo", timeout=SETUP_TIMEOUT)
    try:
        yield Group(dist.get_rank(), world, int(os.environ["LOCAL_RANK"]))
    finally:
        dist.destroy_process_group()


def is_main_process() -> bool:
    """False in the processes torchrun started with RANK > 0 (they stay quiet)."""
    return int(os.environ.get("RANK", "0")) == 0


def check_shares(batch_size: int, samples: int, world: int) -> None:
    """Refuse a split that would leave a process a step of fewer than two samples."""
    if world > 1 and min(batch_size, samples) < 2 * world:
        raise RunError(f"--batch-size {batch_size} over {samples} training samples is shared by "
                       f"{world} processes, and each needs at least 2 samples per step: use "
                       f"--batch-size {2 * world} or more (with as many samples), or fewer processes")


def average_gradients(network: nn.Module, parameters: Iterable[nn.Parameter]) -> None:
    """Average over the processes the gradients of trained parameters outside the DDP `network`
    (delta_1 with --learn-margin), as DDP does for the network's own."""
    if not isinstance(network, DistributedDataParallel):
        return
    world = dist.get_world_size(network.process_group)
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, group=network.process_group)
            parameter.grad /= world


def share_buffers(network: nn.Module) -> None:
    """Give every process rank 0's buffers (batch-norm statistics), which each process moved on
    with its own batches in the last forward pass, before the model is used outside DDP."""
    if isinstance(network, DistributedDataParallel):
        for buffer in network.module.buffers():
            dist.broadcast(buffer, src=0, group=network.process_group)


def launch(nproc: int, command: list[str], run_dir: Path) -> None:
    """Run `python <command>` in `nproc` processes on this machine: `torchrun --standalone`.

    Unless OMP_NUM_THREADS is set, each process gets an equal share of the CPU cores.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if nproc < 1:
        raise RunError(f"--nproc must be at least 1, got {nproc}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RunError("--nproc: this process already runs under torchrun; drop --nproc and let "
                       "torchrun's --nproc-per-node choose the processes")
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    try:
        torchrun.main(["--standalone", f"--nproc-per-node={nproc}", *command])
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        how = (f"was killed by {failure.signal_name()}" if failure.exitcode < 0
               else f"exited with code {failure.exitcode} (its message is above)")
        raise RunError(f"--nproc {nproc}: training process {rank} {how}; "
                       f"{_what_is_kept(run_dir, nproc)}") from None


def _what_is_kept(run_dir: Path, nproc: int) -> str:
    from curator import runlog
    from curator.train.checkpoint import checkpoint_path

    if not checkpoint_path(run_dir, "last").is_file():
        return f"no epoch of {run_dir} was finished"
    if runlog.read_info(run_dir).get("state") == "finished":
        return f"{run_dir} holds a finished run"
    metrics = runlog.read_metrics(run_dir)
    if "weights_vanished" in metrics and metrics["weights_vanished"].eq(True).iloc[-1]:
        return (f"every finished epoch is kept in {run_dir}, but its importance weights vanished: "
                "resuming cannot help, train a new run as the message above says")
    return (f"every finished epoch is kept in {run_dir}: continue with "
            f"`curator train --out {run_dir} --resume --nproc {nproc}`")
