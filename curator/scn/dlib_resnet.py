"""dlib's face-recognition ResNet as face-api.js ported it, and a reader for its TF.js weights.

The network (29 convolutions, 32 -> 256 channels, trained by dlib on about 3 million faces to tell
identities apart) ships with its weights in the npm package `@vladmandic/face-api` (MIT):
`model/face_recognition_model-weights_manifest.json` + `.bin`, a face-pretrained backbone that a
package registry serves where model downloads are blocked. `DlibResNet` is face-api.js's
`FaceRecognitionNet.forwardInput` in torch up to its 256-d global average (the 128-d identity
embedding after it is left out); on the same input its embedding matched face-api.js's own to
2e-7 (docs/BENCHMARKS.md).

dlib folded its batch norms into fixed affine `scale` layers, and so folded the network does not
fine-tune (SGD at lr 0.005 diverges). So each scale layer gets a batch norm that the first
training batch initialises to reproduce it on that batch's statistics, after which it trains
like any batch norm; until then (evaluation before training) the scale layer itself runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from curator.errors import WeightsError
from curator.scn.pixels import PixelStandardisation

# face-api.js standardises 0-255 RGB pixels as (x - MEAN_RGB) / 256
MEAN_RGB = (122.782, 117.001, 104.298)
# residual blocks: (name, output channels, halves the map)
BLOCKS = (("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
          ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False),
          ("conv64_3", 64, False), ("conv128_down", 128, True), ("conv128_1", 128, False),
          ("conv128_2", 128, False), ("conv256_down", 256, True), ("conv256_1", 256, False),
          ("conv256_2", 256, False), ("conv256_down_out", 256, True))
# smallest input side: the last stride-2 convolution needs a 3 x 3 map
MIN_SIZE = 104


class ConvScale(nn.Module):
    """conv (+ bias), then dlib's affine scale layer or, once calibrated, a batch norm; ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int, relu: bool) -> None:
        super().__init__()
        padding = 0 if stride > 1 else kernel // 2  # TF's 'valid' when strided, else 'same'
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding)
        self.scale = nn.Parameter(torch.ones(c_out), requires_grad=False)
        self.shift = nn.Parameter(torch.zeros(c_out), requires_grad=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.register_buffer("calibrated", torch.tensor(False))
        self._calibrated = False  # the buffer's value, read without a device sync per step
        self.relu = relu

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._calibrated = bool(self.calibrated)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        if self.training and not self._calibrated:
            self._calibrate(y)
        if self._calibrated:
            y = self.norm(y)
        else:
            y = y * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)
        return F.relu(y) if self.relu else y

    @torch.no_grad()
    def _calibrate(self, y: Tensor) -> None:
        """Set the batch norm so that on this batch it computes scale * y + shift; when distributed,
        on the batches of every process, so that all of them start from the same norms."""
        moments = torch.stack([y.mean(dim=(0, 2, 3)), y.square().mean(dim=(0, 2, 3))])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(moments)
            moments /= dist.get_world_size()
        mean, var = moments[0], (moments[1] - moments[0].square()).clamp(min=0.0)
        self.norm.weight.copy_(self.scale * (var + self.norm.eps).sqrt())
        self.norm.bias.copy_(self.scale * mean + self.shift)
        self.norm.running_mean.copy_(mean)
        self.norm.running_var.copy_(var)
        self.calibrated.fill_(True)
        self._calibrated = True


class Residual(nn.Module):
    """Two 3x3 convolutions plus the input; a `down` block halves the map ('valid' stride-2
    convolution, zero-padded at the end to the pooled size) and adds the 2x2-average-pooled
    input, zero-padded to the new channel count."""

    def __init__(self, c_in: int, c_out: int, down: bool) -> None:
        super().__init__()
        self.conv1 = ConvScale(c_in, c_out, 3, stride=2 if down else 1, relu=True)
        self.conv2 = ConvScale(c_out, c_out, 3, stride=1, relu=False)
        self.down = down

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        if self.down:
            x = F.avg_pool2d(x, 2)
            out = F.pad(out, (0, x.shape[3] - out.shape[3], 0, x.shape[2] - out.shape[2]))
            x = F.pad(x, (0, 0, 0, 0, 0, out.shape[1] - x.shape[1]))
        return F.relu(out + x)


class DlibResNet(nn.Module):
    """ImageNet-normalised (N, 3, H, W) faces, H and W >= MIN_SIZE -> (N, 256) pooled features."""

    def __init__(self) -> None:
        super().__init__()
        self.standardise = PixelStandardisation(MEAN_RGB, 256.0)
        self.conv32_down = ConvScale(3, 32, 7, stride=2, relu=True)
        blocks, c_in = {}, 32
        for name, c_out, down in BLOCKS:
            blocks[name] = Residual(c_in, c_out, down)
            c_in = c_out
        self.blocks = nn.ModuleDict(blocks)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(self.conv32_down(self.standardise(x)), 3, 2)
        for block in self.blocks.values():
            x = block(x)
        return x.mean(dim=(2, 3))

    def calibrated_keys(self) -> set[str]:
        """State-dict keys that the first training batch sets (each batch norm and its flag), which
        no weights file holds."""
        return {f"{name}.{key}" for name, module in self.named_modules()
                if isinstance(module, ConvScale)
                for key in module.state_dict() if key.startswith("norm.") or key == "calibrated"}


def read_tfjs(manifest: Path) -> dict[str, np.ndarray]:
    """The float32 arrays of a TF.js weights manifest by name (uint8-quantised ones dequantised)."""
    manifest = Path(manifest)
    try:
        arrays: dict[str, np.ndarray] = {}
        for group in json.loads(manifest.read_text()):
            data = b"".join((manifest.parent / p).read_bytes() for p in group["paths"])
            offset = 0
            for spec in group["weights"]:
                quant = spec.get("quantization")
                dtype = np.dtype(quant["dtype"] if quant else spec["dtype"])
                count = int(np.prod(spec["shape"], dtype=np.int64))
                raw = np.frombuffer(data, dtype, count, offset)
                offset += count * dtype.itemsize
                values = raw * quant["scale"] + quant["min"] if quant else raw
                arrays[spec["name"]] = values.astype(np.float32).reshape(spec["shape"])
            if offset != len(data):
                raise ValueError(f"{len(data) - offset} bytes of {group['paths']} left unread")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise WeightsError(f"--weights {manifest}: not a readable TF.js weights manifest "
                           f"({error.__class__.__name__}: {error})") from None
    return arrays


def state_dict_from_tfjs(arrays: dict[str, np.ndarray]) -> dict[str, Tensor]:
    """face-api.js's tensors under DlibResNet's names (filters HWIO -> OIHW), `fc` left out.
    Only names of the network are converted: a manifest of another network converts to nothing."""
    layers = {"conv32_down": "conv32_down"}
    for name, _, _ in BLOCKS:
        layers[f"{name}/conv1"] = f"blocks.{name}.conv1"
        layers[f"{name}/conv2"] = f"blocks.{name}.conv2"
    parts = {"conv/filters": "conv.weight", "conv/bias": "conv.bias", "scale/weights": "scale",
             "scale/biases": "shift"}
    state: dict[str, Tensor] = {}
    for tfjs, ours in layers.items():
        for part, key in parts.items():
            value = arrays.get(f"{tfjs}/{part}")
            if value is not None:
                value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value
                state[f"{ours}.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
    return state
