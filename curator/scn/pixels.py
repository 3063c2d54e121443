"""The pixel scale a pretrained network was trained on, from the loader's ImageNet-normalised input.

Images reach every backbone normalised with ImageNet statistics (curator.data.dataset); networks
trained elsewhere expect (255 x - centre) / divisor of the 0-1 pixels x: facenet-pytorch's
(x - 127.5) / 128, face-api.js's (x - per-channel mean) / 256.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PixelStandardisation(nn.Module):
    """ImageNet-normalised (N, 3, H, W) pixels -> (255 x - centre) / divisor, x the 0-1 pixels;
    `centre` is one value or one per RGB channel. One fused multiply-add."""

    def __init__(self, centre: float | tuple[float, float, float], divisor: float) -> None:
        super().__init__()
        from curator.data.dataset import MEAN, STD

        centre_rgb = torch.tensor(centre, dtype=torch.float32).expand(3)
        mean, std = torch.tensor(MEAN), torch.tensor(STD)
        # 255 (z std + mean) / divisor - centre / divisor  =  z * scale + offset
        self.register_buffer("scale", (std * 255.0 / divisor).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("offset", ((mean * 255.0 - centre_rgb) / divisor).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.offset, x, self.scale)
