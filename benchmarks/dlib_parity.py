"""curator's `dlib_resnet` against face-api.js itself: one random 150 px image through both, the
128-d face descriptors compared (the network's identity embedding, `fc`, applied to curator's
256-d features). A port that reads a layout wrong is off by far more than float rounding.

Needs node, face-api.js with its pure-JavaScript TF.js backend in a folder
(`npm install face-api.js@0.22.2`), and the weights (`npm pack @vladmandic/face-api`, untarred:
`package/model/`):

    python benchmarks/dlib_parity.py package/model --faceapi-js DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from curator.data.dataset import MEAN, STD
from curator.scn.backbones import build_backbone, load_weights
from curator.scn.dlib_resnet import read_tfjs

MANIFEST = "face_recognition_model-weights_manifest.json"
# face-api.js's network on a (1, 150, 150, 3) float32 image of 0-255 RGB values
SCRIPT = """
const faceapi = require('face-api.js'); const tf = faceapi.tf;
const fs = require('fs'); const path = require('path');
const [manifestPath, imagePath] = process.argv.slice(1);
(async () => {
  await tf.setBackend('cpu');
  const manifest = JSON.parse(fs.readFileSync(manifestPath));
  const bin = fs.readFileSync(path.join(path.dirname(manifestPath), manifest[0].paths[0]));
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  const net = faceapi.nets.faceRecognitionNet;
  net.loadFromWeightMap(tf.io.decodeWeights(buffer, manifest[0].weights));
  const pixels = new Float32Array(fs.readFileSync(imagePath).buffer.slice(0));
  const out = net.forwardInput(await faceapi.toNetInput(tf.tensor4d(pixels, [1, 150, 150, 3])));
  process.stdout.write(JSON.stringify(Array.from(await out.data())));
})().catch(error => { console.error(error); process.exit(1); });
"""


def curator_descriptor(manifest: Path, image: np.ndarray) -> np.ndarray:
    """curator's features of a (150, 150, 3) 0-255 image times face-api's `fc` embedding."""
    net, _ = build_backbone("dlib_resnet", pretrained=False)
    loaded, total = load_weights(net, manifest)
    print(f"curator loaded {loaded}/{total} tensors")
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None] / 255.0
    pixels = (pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        features = net.eval()(pixels).numpy()
    return (features @ read_tfjs(manifest)["fc"])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help=f"the folder holding {MANIFEST}")
    parser.add_argument("--faceapi-js", type=Path, required=True,
                        help="a folder where `npm install face-api.js@0.22.2` was run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = (args.model_dir / MANIFEST).resolve()
    image = (np.random.default_rng(args.seed).random((150, 150, 3)) * 255).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        image_path = Path(folder) / "image.f32"
        image.tofile(image_path)
        reply = subprocess.run(["node", "-e", SCRIPT, str(manifest), str(image_path)],
                               cwd=args.faceapi_js, check=True, capture_output=True, text=True)
    theirs = np.array(json.loads(reply.stdout))
    ours = curator_descriptor(manifest, image)
    print(f"largest difference {np.abs(ours - theirs).max():.2e} "
          f"(descriptor values up to {np.abs(theirs).max():.2f})")


if __name__ == "__main__":
    main()
