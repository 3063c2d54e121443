"""Feature extractors by name: `resnet18`, `inception_resnet_v1`, `mtcnn_onet`, `dlib_resnet`,
`compact` (a small CPU-friendly CNN).

Each constructor returns a module mapping (N, 3, H, W) images to (N, D) pooled features, and D.
Weights: `pretrained=True` fetches the published weights (ImageNet for resnet18, VGGFace2 for
inception_resnet_v1) and fails with a clear WeightsError offline; `mtcnn_onet` is the output
network of facenet-pytorch's MTCNN face detector, whose face-trained weights ship inside the
package, so it needs no download (48 x 48 input only);
`dlib_resnet` (curator.scn.dlib_resnet) is dlib's face-recognition network, whose weights an npm
package carries (`--weights` takes their TF.js manifest; 104 px or more). Images
arrive normalised with ImageNet statistics; the pretrained face networks re-standardise them to
the pixel scale their weights were trained on (curator.scn.pixels); `load_weights` reads a local
state dict (incl. the SCN authors' MS-Celeb-1M ResNet-18 layout) and *counts* what really loaded —
the authors' loader reported success while loading nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from curator.errors import CuratorError, WeightsError
from curator.scn.dlib_resnet import MIN_SIZE as DLIB_MIN_SIZE
from curator.scn.dlib_resnet import DlibResNet, read_tfjs, state_dict_from_tfjs
from curator.scn.pixels import PixelStandardisation

# Keys of classifier heads that never transfer to a new label set.
HEAD_PREFIXES = ("fc.", "classifier.", "logits.", "alpha.", "head.")


def _resnet18(pretrained: bool) -> tuple[nn.Module, int]:
    import torchvision

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1 if pretrained else None
    model = _download(lambda: torchvision.models.resnet18(weights=weights), "resnet18 (ImageNet)")
    model.fc = nn.Identity()
    return model, 512


def facenet_standardisation() -> PixelStandardisation:
    """facenet-pytorch's fixed standardisation of its networks' input: (255 x - 127.5) / 128."""
    return PixelStandardisation(127.5, 128.0)


class InceptionResnetFeatures(nn.Module):
    """facenet-pytorch's InceptionResnetV1 up to its last batch norm (no L2 normalisation)."""

    def __init__(self, pretrained: bool) -> None:
        super().__init__()
        from facenet_pytorch import InceptionResnetV1

        net = _download(lambda: InceptionResnetV1(pretrained="vggface2" if pretrained else None),
                        "inception_resnet_v1 (VGGFace2)")
        self.standardise = facenet_standardisation()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = self.standardise(x)
        for layer in (n.conv2d_1a, n.conv2d_2a, n.conv2d_2b, n.maxpool_3a, n.conv2d_3b, n.conv2d_4a,
                      n.conv2d_4b, n.repeat_1, n.mixed_6a, n.repeat_2, n.mixed_7a, n.repeat_3,
                      n.block8, n.avgpool_1a, n.dropout):
            x = layer(x)
        return n.last_bn(n.last_linear(x.flatten(1)))


def _inception_resnet_v1(pretrained: bool) -> tuple[nn.Module, int]:
    return InceptionResnetFeatures(pretrained), 512


class OnetFeatures(nn.Module):
    """MTCNN's output network (facenet-pytorch `ONet`) up to its 256-unit dense layer."""

    def __init__(self, pretrained: bool) -> None:
        super().__init__()
        from facenet_pytorch.models.mtcnn import ONet

        self.standardise = facenet_standardisation()
        self.net = ONet(pretrained=pretrained)  # the weights are package data: no download
        for head in ("dense6_1", "softmax6_1", "dense6_2", "dense6_3"):  # face / box / landmarks
            delattr(self.net, head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = self.standardise(x)
        for conv, act, pool in ((n.conv1, n.prelu1, n.pool1), (n.conv2, n.prelu2, n.pool2),
                                (n.conv3, n.prelu3, n.pool3), (n.conv4, n.prelu4, None)):
            x = act(conv(x))
            x = pool(x) if pool is not None else x
        # ONet was converted from Caffe: its dense layer reads the feature map transposed
        return n.prelu5(n.dense5(x.permute(0, 3, 2, 1).flatten(1)))


def _mtcnn_onet(pretrained: bool) -> tuple[nn.Module, int]:
    return OnetFeatures(pretrained), 256


def _dlib_resnet(pretrained: bool) -> tuple[nn.Module, int]:
    if pretrained:
        raise WeightsError("backbone 'dlib_resnet' has no weights to download: they ship in the npm "
                           "package @vladmandic/face-api (`npm pack @vladmandic/face-api`, then untar "
                           "it); pass --weights package/model/face_recognition_model-weights_manifest"
                           ".json, or --no-pretrained")
    return DlibResNet(), 256


def _compact(pretrained: bool) -> tuple[nn.Module, int]:
    if pretrained:
        raise WeightsError("backbone 'compact' has no published weights; pass --no-pretrained "
                           "(or --weights PATH for your own)")

    def block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

    # A strided stem like ResNet's, then one conv per stage: cheap at 48-64 px on a CPU.
    layers = [*block(3, 32, stride=2), *block(32, 64), nn.MaxPool2d(2), *block(64, 128),
              nn.MaxPool2d(2), *block(128, 256), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), 256


BACKBONES: dict[str, Callable[[bool], tuple[nn.Module, int]]] = {
    "resnet18": _resnet18,
    "inception_resnet_v1": _inception_resnet_v1,
    "mtcnn_onet": _mtcnn_onet,
    "dlib_resnet": _dlib_resnet,
    "compact": _compact,
}


# Backbones whose dense layers fix the input size: name -> side in pixels.
FIXED_SIZES = {"mtcnn_onet": 48}
# Backbones that need at least this many pixels a side.
MIN_SIZES = {"dlib_resnet": DLIB_MIN_SIZE}


def check_image_size(name: str, image_size: int) -> None:
    """A clear error when `name` takes only one image size and `image_size` is another."""
    side = FIXED_SIZES.get(name)
    if side is not None and image_size != side:
        raise CuratorError(f"--backbone {name} takes {side} x {side} faces; pass --image-size {side} "
                           f"(got {image_size})")
    least = MIN_SIZES.get(name)
    if least is not None and image_size < least:
        raise CuratorError(f"--backbone {name} takes faces of {least} x {least} pixels or more; pass "
                           f"--image-size {least} or larger (got {image_size})")


def build_backbone(name: str, *, pretrained: bool) -> tuple[nn.Module, int]:
    """The feature extractor registered under `name` and its feature dimension."""
    if name not in BACKBONES:
        raise CuratorError(f"unknown --backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    return BACKBONES[name](pretrained)


def _download(make: Callable[[], nn.Module], what: str) -> nn.Module:
    try:
        return make()
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        raise WeightsError(f"cannot fetch pretrained weights for {what} ({error.__class__.__name__}: "
                           f"{error}); pass --weights PATH to load a local file, or --no-pretrained "
                           "to train from random initialisation") from None


def load_weights(backbone: nn.Module, path: Path) -> tuple[int, int]:
    """Load a local state dict into `backbone`; returns (loaded, total) parameter-tensor counts.

    Accepts a bare state dict or a checkpoint with `state_dict`/`model`, or (dlib_resnet) a TF.js
    weights manifest; strips `module.` (DataParallel) and `backbone.` prefixes; skips classifier
    heads. A key that matches by name but not by shape, or a file from which nothing loads, is an
    error — never a silent success. The total leaves out the keys a backbone declares in
    `calibrated_keys()`: state that training sets, not a weights file (dlib_resnet's batch norms)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"--weights {path}: file not found")
    if path.suffix == ".json":  # a TF.js weights manifest: dlib_resnet's, from face-api
        state = state_dict_from_tfjs(read_tfjs(path))
        if not state:
            raise WeightsError(f"--weights {path}: holds none of dlib_resnet's tensors; pass "
                               "face-api's face_recognition_model-weights_manifest.json")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad weights file
            raise WeightsError(f"--weights {path}: not a readable PyTorch state dict ({error})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"--weights {path}: expected a state dict, found {type(state).__name__}")
    target = backbone.state_dict()
    prefix = "net." if any(k.startswith("net.") for k in target) else ""
    matched: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key
        for strip in ("module.", "backbone.", "features_extractor."):
            name = name.removeprefix(strip)
        if name.startswith(HEAD_PREFIXES):
            continue
        name = prefix + name if prefix + name in target else name
        if name not in target:
            continue
        if tuple(target[name].shape) != tuple(value.shape):
            raise WeightsError(f"--weights {path}: {key} has shape {tuple(value.shape)} but the "
                               f"backbone expects {tuple(target[name].shape)}; is it for another "
                               "--backbone?")
        matched[name] = value
    if not matched:
        raise WeightsError(f"--weights {path}: none of its {len(state)} keys match the backbone "
                           f"(e.g. {next(iter(state), '?')!r}); is it for another --backbone?")
    backbone.load_state_dict(matched, strict=False)
    calibrated = backbone.calibrated_keys() if hasattr(backbone, "calibrated_keys") else set()
    return len(matched), len(target.keys() - calibrated)
