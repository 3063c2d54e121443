"""Backbone registry and weight loading: count what loads, never report a silent success."""

from pathlib import Path

import pytest
import torch

from curator.config import TrainConfig
from curator.errors import CuratorError, WeightsError
from curator.data.dataset import MEAN, STD
from curator.scn.backbones import build_backbone, facenet_standardisation, load_weights
from curator.scn.model import build_model


@pytest.mark.parametrize("name, size", [("compact", 48), ("resnet18", 64), ("inception_resnet_v1", 96),
                                        ("mtcnn_onet", 48), ("dlib_resnet", 104)])
def test_backbones__map_images_to_feature_vectors(name, size):
    net, dim = build_backbone(name, pretrained=False)
    net.eval()
    with torch.no_grad():
        features = net(torch.randn(2, 3, size, size))
    assert features.shape == (2, dim)


def test_build_backbone__unknown_name_lists_the_choices():
    with pytest.raises(CuratorError, match="resnet18, inception_resnet_v1, mtcnn_onet, dlib_resnet, compact"):
        build_backbone("vgg", pretrained=False)


def test_load_weights__authors_msceleb_layout_loads_every_backbone_tensor(tmp_path):
    source, _ = build_backbone("resnet18", pretrained=False)
    state = {f"module.{k}": v.clone() + 1 for k, v in source.state_dict().items()}
    state["module.fc.weight"] = torch.zeros(7, 512)        # the authors' classifier: skipped
    state["module.feature.weight"] = torch.zeros(512, 512)  # an extra layer: not in our backbone
    path = tmp_path / "resnet18_msceleb.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)

    target, _ = build_backbone("resnet18", pretrained=False)
    loaded, total = load_weights(target, path)

    assert loaded == total == len(source.state_dict())
    assert torch.equal(target.conv1.weight, source.conv1.weight + 1)


def test_load_weights__wrong_shape_names_the_key(tmp_path):
    net, _ = build_backbone("resnet18", pretrained=False)
    path = tmp_path / "bad.pt"
    torch.save({"conv1.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(WeightsError, match=r"conv1.weight has shape \(3, 3, 3, 3\)"):
        load_weights(net, path)


def test_load_weights__nothing_matching_is_an_error_not_a_success(tmp_path):
    net, _ = build_backbone("compact", pretrained=False)
    path = tmp_path / "other.pt"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="none of its 1 keys match"):
        load_weights(net, path)


def test_load_weights__missing_file(tmp_path):
    net, _ = build_backbone("compact", pretrained=False)
    with pytest.raises(WeightsError, match="file not found"):
        load_weights(net, tmp_path / "nope.pt")


def test_pretrained_compact__asks_for_no_pretrained():
    with pytest.raises(WeightsError, match="--no-pretrained"):
        build_model(TrainConfig(backbone="compact", pretrained=True), 7)


def test_model__ce_method_has_unit_weights():
    model, note = build_model(TrainConfig(backbone="compact", pretrained=False, method="ce"), 3)
    alpha, logits = model(torch.randn(2, 3, 32, 32))
    assert alpha.tolist() == [1.0, 1.0] and logits.shape == (2, 3)
    assert "random initialisation" in note


@pytest.mark.parametrize("name", ["resnet18", "inception_resnet_v1"])
def test_pretrained_offline__clear_error_with_the_fix(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights
    with pytest.raises(WeightsError, match="--weights PATH .* --no-pretrained"):
        build_backbone(name, pretrained=True)


def test_mtcnn_onet__face_weights_ship_with_facenet_pytorch(tmp_path, monkeypatch):
    import facenet_pytorch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached, nothing to download
    net, _ = build_backbone("mtcnn_onet", pretrained=True)
    shipped = torch.load(Path(facenet_pytorch.__file__).parent / "data" / "onet.pt")
    ours = net.net.state_dict()
    heads = [k for k in shipped if k.startswith("dense6")]  # face / box / landmark heads: dropped
    assert len(heads) == 6 and set(ours) == set(shipped) - set(heads)
    assert all(torch.equal(ours[k], shipped[k]) for k in ours)
    random, _ = build_backbone("mtcnn_onet", pretrained=False)
    assert not torch.equal(random.net.conv1.weight, shipped["conv1.weight"])


def test_mtcnn_onet__other_image_sizes_name_the_option():
    with pytest.raises(CuratorError, match="mtcnn_onet takes 48 x 48 faces; pass --image-size 48"):
        build_model(TrainConfig(backbone="mtcnn_onet", image_size=64), 7)


def test_facenet_standardisation__imagenet_normalised_pixels_become_255x_minus_127_5_over_128():
    pixels = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    normalised = (pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    expected = torch.tensor([-127.5, 0.0, 127.5]).div(128).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    assert torch.allclose(facenet_standardisation()(normalised), expected, atol=1e-5)
