"""A test helper: SCN models whose attention head starts saturated at alpha ~ 0 (bias -30), the
state a run whose importance weights vanished ends in. Tests wrap the trainer's `build_model`
with it; the processes of a `--nproc` test call `install()` from a sitecustomize.py."""

import torch

from curator.train import trainer


def with_dead_attention(build):
    """`build` (config, num_classes) -> (model, note), with the attention bias set to -30."""
    def build_with_dead_attention(config, num_classes):
        model, note = build(config, num_classes)
        with torch.no_grad():
            model.alpha[0].bias.fill_(-30.0)
        return model, note

    return build_with_dead_attention


def install() -> None:
    """Make every model this process trains start with a dead attention head."""
    trainer.build_model = with_dead_attention(trainer.build_model)
