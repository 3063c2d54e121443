"""Make the sample face set: 7 expressions x 64 drawn faces, with 10 wrong labels in every class.

`python sample_data/generate.py [--out DIR]` writes images/NNNNN.png, labels.csv (the labels to
clean, ~15% wrong) and truth.csv (the true labels). `--per-class N --seed S` draws another set of
the same kind (benchmarks train on a larger one: docs/BENCHMARKS.md). Every image has its own
seeded numpy Generator and PNGs carry no metadata, so the shipped folder is reproduced byte for
byte. The trap: the bytes depend on the installed Pillow and numpy (drawing, resampling, zlib);
another version may change them, and then the shipped folder is regenerated and committed
together with the version bump.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from draw_faces import CANVAS, CLASSES, SKIN, draw_face, expression_params, random_colour

PER_CLASS = 64
WRONG_SHARE = 10 / 64  # 10 wrong labels in each class of 64: 15.6%
SEED = 20200614
SIZE = 64
BACKGROUND = np.array([(40, 40, 50), (120, 130, 140), (200, 190, 170)], dtype=float)
OCCLUDERS = {"none": 0.82, "bar": 0.06, "hand": 0.06, "glasses": 0.06}


def render(expression: str, rng: np.random.Generator) -> np.ndarray:
    """One SIZE x SIZE RGB face: pose, occlusion, blur, lighting and sensor noise applied."""
    occluder = rng.choice(list(OCCLUDERS), p=list(OCCLUDERS.values()))
    background = random_colour(BACKGROUND, rng)
    image = draw_face(expression_params(expression, rng), rng, background=background,
                      glasses=occluder == "glasses")
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = _pose(image, rng, background)
    _occlude(ImageDraw.Draw(image), occluder, rng)
    image = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    if rng.random() < 0.15:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.9)))

    pixels = np.asarray(image, dtype=float)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    yy, xx = np.mgrid[-1:1:SIZE * 1j, -1:1:SIZE * 1j]
    light = rng.uniform(0.7, 1.2) + rng.uniform(0, 0.35) * (direction[0] * xx + direction[1] * yy)
    pixels = pixels * light[..., None] + rng.normal(0, rng.uniform(1, 5), pixels.shape)
    if rng.random() < 0.15:
        pixels[:] = pixels.mean(axis=2, keepdims=True)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _pose(image: Image.Image, rng: np.random.Generator,
          background: tuple[int, int, int]) -> Image.Image:
    """Rotate by up to 6 degrees, scale by up to 6% and shift by up to 3%: a loosely aligned crop."""
    angle = np.deg2rad(rng.uniform(-6, 6))
    scale = rng.uniform(0.94, 1.06)
    shift_x, shift_y = rng.uniform(-0.03, 0.03, size=2) * CANVAS
    c, s = np.cos(angle) / scale, np.sin(angle) / scale
    centre = CANVAS / 2
    # PIL maps each output pixel back to an input pixel: undo the shift, then rotate and scale
    tx = centre - c * (centre + shift_x) - s * (centre + shift_y)
    ty = centre + s * (centre + shift_x) - c * (centre + shift_y)
    return image.transform(image.size, Image.Transform.AFFINE, (c, s, tx, -s, c, ty),
                           resample=Image.Resampling.BILINEAR, fillcolor=background)


def _occlude(draw: ImageDraw.ImageDraw, kind: str, rng: np.random.Generator) -> None:
    """Cover part of the face with a bar or a raised hand (sunglasses are drawn with the face)."""
    x, y = rng.uniform(0.25, 0.75) * CANVAS, rng.uniform(0.4, 0.85) * CANVAS
    if kind == "bar":
        w, h = rng.uniform(0.3, 0.7) * CANVAS, rng.uniform(0.06, 0.12) * CANVAS
        if rng.random() < 0.5:
            w, h = h, w
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.rectangle([x - w / 2, y - h / 2, x + w / 2, y + h / 2], fill=colour)
    elif kind == "hand":
        skin = random_colour(SKIN, rng)
        r = rng.uniform(0.1, 0.16) * CANVAS
        draw.ellipse([x - r, y - 0.7 * r, x + r, y + 0.9 * r], fill=skin)
        for finger in range(4):
            fx = x - r + (finger + 0.5) * r / 2
            draw.rounded_rectangle([fx - 0.22 * r, y - 1.5 * r, fx + 0.22 * r, y], 0.2 * r, fill=skin)


def flip_labels(truth: list[str], rng: np.random.Generator) -> list[str]:
    """Give WRONG_SHARE of the samples of every class another class, drawn uniformly."""
    given = list(truth)
    for name in CLASSES:
        members = [i for i, label in enumerate(truth) if label == name]
        others = [c for c in CLASSES if c != name]
        for i in rng.choice(members, size=round(WRONG_SHARE * len(members)), replace=False):
            given[i] = others[rng.integers(len(others))]
    return given


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode RGB pixels as a PNG with no metadata chunks (no time stamp, no text)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def build(per_class: int = PER_CLASS, seed: int = SEED) -> dict[str, bytes]:
    """Every file of the set, keyed by its path relative to the output folder."""
    order = np.random.default_rng(seed).permutation(len(CLASSES) * per_class)
    truth = [CLASSES[k // per_class] for k in order]  # shuffled, so file names say nothing
    given = flip_labels(truth, np.random.default_rng([seed, 1]))
    paths = [f"images/{i + 1:05d}.png" for i in range(len(truth))]
    files = {path: png_bytes(render(label, np.random.default_rng([seed, 2, i])))
             for i, (path, label) in enumerate(zip(paths, truth))}
    for name, labels in (("labels.csv", given), ("truth.csv", truth)):
        rows = "".join(f"{path},{label}\n" for path, label in zip(paths, labels))
        files[name] = ("filepath,label\n" + rows).encode()
    return files


def generate(out: Path, *, per_class: int = PER_CLASS, seed: int = SEED, force: bool = False
             ) -> None:
    """Write the set under `out`; refuse to replace different files there unless `force`."""
    files = build(per_class, seed)
    changed = [path for path, data in files.items()
               if (out / path).exists() and (out / path).read_bytes() != data]
    if changed and not force:
        raise SystemExit(f"error: {len(changed)} files under {out} differ from the generated set "
                         f"(first: {changed[0]}); pass --force to overwrite them")
    (out / "images").mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        (out / path).write_bytes(data)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and write the set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write into (default: this script's folder)")
    parser.add_argument("--per-class", type=int, default=PER_CLASS,
                        help=f"faces of each expression (default {PER_CLASS}: the shipped set)")
    parser.add_argument("--seed", type=int, default=SEED,
                        help=f"seed of the set (default {SEED}: the shipped set)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite files that differ from the generated ones")
    args = parser.parse_args(argv)
    if args.per_class < 2:
        parser.error(f"--per-class must be at least 2 (got {args.per_class})")
    generate(args.out, per_class=args.per_class, seed=args.seed, force=args.force)


if __name__ == "__main__":
    main()
