"""PixelStandardisation: ImageNet-normalised input back to the scale a pretrained network expects."""

import torch

from curator.data.dataset import MEAN, STD
from curator.scn.dlib_resnet import MEAN_RGB
from curator.scn.pixels import PixelStandardisation


def _normalised(pixels: torch.Tensor) -> torch.Tensor:
    """0-1 pixels (3, W) as the loader hands them to a backbone: (1, 3, 1, W), ImageNet-normalised."""
    return ((pixels.T - torch.tensor(MEAN)) / torch.tensor(STD)).T.reshape(1, 3, 1, -1)


def test_pixel_standardisation__per_channel_centre_as_face_api_js():
    # face-api.js: (255 x - MEAN_RGB) / 256; white, black and a grey pixel, hand-computed
    pixels = torch.tensor([[1.0, 0.0, 0.4], [1.0, 0.0, 0.4], [1.0, 0.0, 0.4]])
    out = PixelStandardisation(MEAN_RGB, 256.0)(_normalised(pixels)).reshape(3, 3)
    expected = torch.tensor([[(255 - 122.782) / 256, -122.782 / 256, (102 - 122.782) / 256],
                             [(255 - 117.001) / 256, -117.001 / 256, (102 - 117.001) / 256],
                             [(255 - 104.298) / 256, -104.298 / 256, (102 - 104.298) / 256]])
    assert torch.allclose(out, expected, atol=1e-6)


def test_pixel_standardisation__holds_no_state_dict_entries():
    assert PixelStandardisation(127.5, 128.0).state_dict() == {}
