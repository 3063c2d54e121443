"""The SCN network: backbone features -> (importance weight alpha, class logits).

alpha = sigmoid(FC(features)) is the self-attention importance weight (Sec. 3.2); the logits are
returned *unweighted* so the trainer can both weight them for the loss and record the classifier's
own probabilities. With `method="ce"` alpha is fixed at 1 (plain cross-entropy baseline).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from curator.config import TrainConfig
from curator.scn.backbones import build_backbone, check_image_size, load_weights


class SCN(nn.Module):
    """Backbone + attention head + linear classifier."""

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int, *,
                 drop_rate: float = 0.0, attention: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(drop_rate)
        self.alpha = nn.Sequential(nn.Linear(feature_dim, 1), nn.Sigmoid()) if attention else None
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Return (alpha (N,), logits (N, K))."""
        features = self.dropout(self.backbone(images))
        logits = self.fc(features)
        if self.alpha is None:
            return torch.ones(len(logits), device=logits.device, dtype=logits.dtype), logits
        return self.alpha(features).squeeze(1).to(logits.dtype), logits


def build_model(config: TrainConfig, num_classes: int) -> tuple[SCN, str]:
    """The model a config describes, and a one-line note on which weights it starts from."""
    check_image_size(config.backbone, config.image_size)
    backbone, dim = build_backbone(config.backbone, pretrained=config.pretrained and not config.weights)
    if config.weights:
        loaded, total = load_weights(backbone, config.weights)
        note = f"loaded {loaded}/{total} backbone tensors from {config.weights}"
    elif config.pretrained:
        note = f"{config.backbone} with its published pretrained weights"
    else:
        note = f"{config.backbone} from random initialisation"
    model = SCN(backbone, dim, num_classes, drop_rate=config.drop_rate,
                attention=config.method == "scn")
    return model, note
