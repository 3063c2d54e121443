"""Checkpoints: `last.pt` (everything needed to resume) and `best.pt` (the model to use).

Both are written atomically; `last.pt` is the source of truth for how far a run got, so records
of an epoch whose checkpoint never landed are recomputed on resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from curator import runlog
from curator.config import TrainConfig
from curator.errors import RunError
from curator.scn.model import SCN, build_model


def checkpoint_path(run_dir: Path, which: str) -> Path:
    """`RUN_DIR/checkpoints/{which}.pt` for which in last|best."""
    return Path(run_dir) / runlog.CHECKPOINTS / f"{which}.pt"


def save(run_dir: Path, which: str, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically."""
    runlog.atomic_write(checkpoint_path(run_dir, which), lambda tmp: torch.save(state, tmp))


def load_state(run_dir: Path, which: str = "last") -> dict[str, Any]:
    """Read a checkpoint dict (tensors on CPU)."""
    path = checkpoint_path(run_dir, which)
    if not path.is_file():
        raise RunError(f"{path}: no checkpoint yet; finish at least one epoch of `curator train`")
    return torch.load(path, map_location="cpu", weights_only=False)


def restore(module: nn.Module, state: dict[str, torch.Tensor], what: Path) -> None:
    """Load a state dict strictly, turning a shape mismatch into a one-line RunError."""
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise RunError(f"{what}: checkpoint does not fit the model ({first}); was it written "
                       "for another --backbone or class list?") from None


def load_model(run_dir: Path, which: str = "best") -> tuple[SCN, TrainConfig, tuple[str, ...]]:
    """The trained model of a run (eval mode, CPU), its config and its class list."""
    config = runlog.read_config(run_dir)
    classes = tuple(runlog.read_info(run_dir)["classes"])
    state = load_state(run_dir, which)
    model, _ = build_model(TrainConfig.from_dict({**config.to_dict(), "pretrained": False,
                                                  "weights": None}), len(classes))
    restore(model, state["model"], checkpoint_path(run_dir, which))
    return model.eval(), config, classes
