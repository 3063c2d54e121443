"""dlib_resnet: the TF.js weights reader, the name and layout mapping, and the batch norms that the
first training batch calibrates to reproduce dlib's folded scale layers."""

import json

import numpy as np
import pytest
import torch

from curator.config import TrainConfig
from curator.errors import CuratorError, WeightsError
from curator.scn.backbones import build_backbone, load_weights
from curator.scn.dlib_resnet import BLOCKS, DlibResNet, read_tfjs
from curator.scn.model import build_model

SIZE = 104


def write_manifest(folder, weights, shards=1):
    """face-api's layout: a manifest JSON beside the binary shards it lists, values in order."""
    data = b"".join(blob for _, blob in weights)
    step = -(-len(data) // shards)
    paths = [f"model.bin{i}" for i in range(shards)]
    for i, path in enumerate(paths):
        (folder / path).write_bytes(data[i * step:(i + 1) * step])
    manifest = folder / "model-weights_manifest.json"
    manifest.write_text(json.dumps([{"paths": paths, "weights": [spec for spec, _ in weights]}]))
    return manifest


def float32(name, values):
    values = np.asarray(values, np.float32)
    return {"name": name, "shape": list(values.shape), "dtype": "float32"}, values.tobytes()


def quantised(name, codes, scale, low):
    codes = np.asarray(codes, np.uint8)
    spec = {"name": name, "shape": list(codes.shape), "dtype": "float32",
            "quantization": {"dtype": "uint8", "scale": scale, "min": low}}
    return spec, codes.tobytes()


def faceapi_manifest(folder, seed=0):
    """A whole network's weights in face-api's names and layout (filters HWIO), random values,
    the filters uint8-quantised as face-api ships most of them; returns (manifest, arrays)."""
    rng = np.random.default_rng(seed)
    shapes = {"conv32_down": (7, 7, 3, 32)}
    c_in = 32
    for name, c_out, _ in BLOCKS:
        shapes[f"{name}/conv1"], shapes[f"{name}/conv2"] = (3, 3, c_in, c_out), (3, 3, c_out, c_out)
        c_in = c_out
    weights, arrays = [], {}
    for layer, shape in shapes.items():
        codes = rng.integers(0, 256, shape)
        weights.append(quantised(f"{layer}/conv/filters", codes, 1e-3, -0.128))
        arrays[f"{layer}/conv/filters"] = (codes * 1e-3 - 0.128).astype(np.float32)
        for part, low in (("conv/bias", -0.1), ("scale/weights", 0.5), ("scale/biases", -0.2)):
            values = (low + 0.2 * rng.random(shape[-1])).astype(np.float32)
            weights.append(float32(f"{layer}/{part}", values))
            arrays[f"{layer}/{part}"] = values
    weights.append(float32("fc", rng.random((256, 128))))  # the identity embedding: not loaded
    return write_manifest(folder, weights, shards=3), arrays


def test_read_tfjs__dequantises_uint8_and_reads_float32_across_shards(tmp_path):
    manifest = write_manifest(tmp_path, [quantised("a", [[0, 1, 255]], 0.5, -1.0),
                                         float32("b", [2.5, -3.0])], shards=2)
    arrays = read_tfjs(manifest)
    assert arrays["a"].tolist() == [[-1.0, -0.5, 126.5]]
    assert arrays["b"].tolist() == [2.5, -3.0]


@pytest.mark.parametrize("change, message", [(lambda data: data[:-1], "buffer is smaller"),
                                             (lambda data: data + b"\0", "1 bytes .* left unread")])
def test_read_tfjs__a_binary_of_the_wrong_length_names_the_manifest(tmp_path, change, message):
    manifest = write_manifest(tmp_path, [float32("b", [2.5, -3.0])])
    shard = tmp_path / "model.bin0"
    shard.write_bytes(change(shard.read_bytes()))
    with pytest.raises(WeightsError, match=f"--weights {manifest}: not a readable TF.js .*{message}"):
        read_tfjs(manifest)


def test_load_weights__faceapi_manifest_loads_every_tensor_in_torch_layout(tmp_path):
    manifest, arrays = faceapi_manifest(tmp_path)
    net, _ = build_backbone("dlib_resnet", pretrained=False)
    loaded, total = load_weights(net, manifest)
    assert loaded == total == 4 * (1 + 2 * len(BLOCKS))  # filters, bias, scale, shift per conv
    filters = arrays["conv64_down/conv1/conv/filters"]  # (kh, kw, in, out)
    torch_filters = net.blocks["conv64_down"].conv1.conv.weight  # (out, in, kh, kw)
    assert torch_filters[5, 7, 2, 1].item() == filters[2, 1, 7, 5]
    assert net.blocks["conv32_1"].conv2.scale.tolist() == arrays["conv32_1/conv2/scale/weights"].tolist()


def test_load_weights__manifest_of_another_network_is_an_error(tmp_path):
    manifest = write_manifest(tmp_path, [float32("dense0/conv0/filters", [1.0])])
    net, _ = build_backbone("dlib_resnet", pretrained=False)
    with pytest.raises(WeightsError, match="holds none of dlib_resnet's tensors"):
        load_weights(net, manifest)


def test_calibration__first_training_batch_keeps_the_pretrained_function_then_trains(tmp_path):
    manifest, _ = faceapi_manifest(tmp_path)
    net = DlibResNet()
    load_weights(net, manifest)
    images = torch.randn(8, 3, SIZE, SIZE)
    with torch.no_grad():
        folded = net.eval()(images)  # dlib's scale layers, as face-api runs them
        calibrated = net.train()(images)  # batch norms set from this batch's statistics
    assert torch.allclose(calibrated, folded, rtol=1e-4, atol=1e-5)
    assert net.conv32_down.calibrated.item()

    norm = net.blocks["conv128_1"].conv1.norm
    before = norm.weight.detach().clone()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    net(images).square().mean().backward()
    optimizer.step()
    assert not torch.equal(norm.weight, before)

    reloaded = DlibResNet()
    reloaded.load_state_dict(net.state_dict())  # a checkpoint keeps the calibration
    assert reloaded.conv32_down.calibrated.item()
    with torch.no_grad():
        assert torch.allclose(reloaded.eval()(images), net.eval()(images))


def test_dlib_resnet__too_small_images_name_the_option():
    with pytest.raises(CuratorError, match="--image-size 104 or larger"):
        build_model(TrainConfig(backbone="dlib_resnet", pretrained=False, image_size=96), 7)


def test_dlib_resnet__pretrained_without_weights_says_where_they_are():
    with pytest.raises(WeightsError, match="npm pack @vladmandic/face-api"):
        build_model(TrainConfig(backbone="dlib_resnet", pretrained=True, image_size=SIZE), 7)


def _calibrate_in_process(rank, init, manifest, out):
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    net = DlibResNet()
    load_weights(net, manifest)
    images = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(rank))
    with torch.no_grad():
        net.train()(images)
    torch.save(net.state_dict(), out / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_calibration__processes_of_a_distributed_run_start_from_the_same_norms(tmp_path):
    manifest, _ = faceapi_manifest(tmp_path)
    torch.multiprocessing.spawn(_calibrate_in_process, nprocs=2,
                                args=(f"file://{tmp_path / 'rendezvous'}", manifest, tmp_path))
    states = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    # parameters; the running statistics move on with each process's batch, as in any batch norm
    norms = [key for key in states[0] if key.endswith(("norm.weight", "norm.bias"))]
    assert len(norms) == 2 * (1 + 2 * len(BLOCKS))
    assert all(torch.equal(states[0][key], states[1][key]) for key in norms)

    both = DlibResNet()  # one process calibrated on both batches gives the same norms
    load_weights(both, manifest)
    images = torch.cat([torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(r))
                        for r in (0, 1)])
    with torch.no_grad():
        both.train()(images)
    assert torch.allclose(states[0]["conv32_down.norm.weight"], both.conv32_down.norm.weight, rtol=1e-4)
