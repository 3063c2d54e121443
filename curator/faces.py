"""Face preparation for `curator prepare`: detect, align and crop every face once, cached on disk.

MTCNN (facenet-pytorch; its weights ship inside the wheel, so this works offline) finds the faces
in each image; the largest is rotated about its box centre so the eyes are level, cropped square
around the box with `margin` pixels of context (output pixels, as facenet-pytorch counts them)
and resized to `image_size`. Crops keep their names and mirror the input folders (relative to the
images' common folder) under OUT, next to:

    OUT/labels.csv      filepath (relative to OUT), label, split[, truth, votes]: ready for
                        `curator train OUT/labels.csv`
    OUT/no_face.csv     filepath, label, split of images with no face found (never dropped silently)
    OUT/bad_images.csv  filepath, reason of unreadable images skipped with --skip-bad
    OUT/prepare.json    the crop settings

A re-run with the same settings skips finished crops and known no-face images; other settings
need `force`, which redoes every image.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from curator.data.formats import skipped_rows
from curator.data.importers import IMAGE_ERRORS
from curator.data.manifest import Manifest
from curator.errors import CuratorError, DataError
from curator.runlog import atomic_write, atomic_write_text

LABELS = "labels.csv"
NO_FACE = "no_face.csv"
BAD_IMAGES = "bad_images.csv"
SETTINGS = "prepare.json"
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class PrepareResult:
    """Counts of one `prepare_faces` call; `labels_csv` lists every usable crop."""

    labels_csv: Path
    cropped: int
    reused: int
    no_face: int
    bad: int


def prepare_faces(manifest: Manifest, out_dir: Path | str, *, image_size: int = 224, margin: int = 0,
                  device: str = "cpu", force: bool = False, skip_bad: bool = False,
                  batch_size: int = 16, progress: Callable[[], None] | None = None) -> PrepareResult:
    """Crop the face of every manifest image into `out_dir` (see the module docstring).

    `progress` is called once per image, prepared or found in the cache.
    """
    if image_size < 16:
        raise CuratorError(f"--image-size must be at least 16, got {image_size}")
    if not 0 <= margin < image_size:
        raise CuratorError(f"--margin must lie in [0, {image_size}) pixels, got {margin}")
    if device not in DEVICES:
        raise CuratorError(f"--device must be one of {', '.join(DEVICES)}; got {device!r}")
    out_dir = Path(os.path.abspath(out_dir))
    filepaths = list(manifest.table["filepath"])
    root = os.path.commonpath([os.path.dirname(p) for p in filepaths])
    if out_dir == Path(root):
        raise DataError(f"--out {out_dir} is the folder of the images themselves; choose a new folder")
    known_no_face = _claim(out_dir, {"image_size": image_size, "margin": margin}, force)
    targets = [out_dir / os.path.relpath(p, root) for p in filepaths]
    pending = [i for i, (path, target) in enumerate(zip(filepaths, targets))
               if (force or not target.is_file()) and path not in known_no_face]
    for _ in range(len(filepaths) - len(pending)):
        _tick(progress)
    no_face, bad = known_no_face & set(filepaths), {}
    if pending:
        detector = _detector(device)
        for batch in _batches(pending, filepaths, batch_size, skip_bad, bad, progress):
            found = _detect(detector, [image for _, image in batch])
            for (i, image), face in zip(batch, found):
                if face is None:
                    no_face.add(filepaths[i])
                else:
                    _save(align_crop(image, *face, image_size=image_size, margin=margin), targets[i])
                _tick(progress)
    _write_lists(manifest, out_dir, targets, no_face, bad)
    cropped = sum(filepaths[i] not in no_face and filepaths[i] not in bad for i in pending)
    reused = len(filepaths) - len(pending) - len(known_no_face & set(filepaths))
    return PrepareResult(out_dir / LABELS, cropped, reused, len(no_face), len(bad))


def align_crop(image: Image.Image, box: np.ndarray, eyes: np.ndarray, *, image_size: int,
               margin: int) -> Image.Image:
    """Rotate about the box centre so the two eye points (x, y) lie level, crop a square around
    the box (x0, y0, x1, y1) plus `margin` output pixels, and resize to `image_size`."""
    (left_x, left_y), (right_x, right_y) = eyes
    angle = math.atan2(right_y - left_y, right_x - left_x)
    x0, y0, x1, y1 = box
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    scale = max(x1 - x0, y1 - y0) / (image_size - margin)  # input pixels per output pixel
    shrink = max(1, int(scale // 2))  # shrink large faces first so bilinear sampling cannot alias
    if shrink > 1:
        image = image.reduce(shrink)
        centre_x, centre_y, scale = centre_x / shrink, centre_y / shrink, scale / shrink
    cos, sin, half = math.cos(angle) * scale, math.sin(angle) * scale, image_size / 2
    # output (u, v) samples input (cx + cos*(u-half) - sin*(v-half), cy + sin*(u-half) + cos*(v-half))
    coefficients = (cos, -sin, centre_x - (cos - sin) * half,
                    sin, cos, centre_y - (sin + cos) * half)
    return image.transform((image_size, image_size), Image.Transform.AFFINE, coefficients,
                           resample=Image.Resampling.BILINEAR)


def _claim(out_dir: Path, settings: dict, force: bool) -> set[str]:
    """Check OUT may be written with `settings`; return the images earlier runs found no face in."""
    settings_path = out_dir / SETTINGS
    if settings_path.is_file():
        earlier = json.loads(settings_path.read_text())
        if earlier != settings and not force:
            raise DataError(f"{out_dir} was prepared with {earlier}; pass --force to redo every crop "
                            f"with {settings}, or choose another --out")
    elif out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise DataError(f"{out_dir} is not empty and was not made by `curator prepare`; choose a "
                        "new --out, or pass --force to write into it")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(settings_path, json.dumps(settings) + "\n")
    if force or not (out_dir / NO_FACE).is_file():
        return set()
    return set(pd.read_csv(out_dir / NO_FACE, dtype=str)["filepath"])


def _detector(device: str):
    """facenet-pytorch's MTCNN (imported here: torch loads only when faces are detected)."""
    import torch
    from facenet_pytorch import MTCNN

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise CuratorError("--device cuda: no CUDA GPU is available here; use --device cpu")
    return MTCNN(device=device)  # select_largest: the largest face comes first


def _batches(pending: list[int], filepaths: list[str], batch_size: int, skip_bad: bool,
             bad: dict[str, str], progress: Callable[[], None] | None
             ) -> Iterator[list[tuple[int, Image.Image]]]:
    """Loaded RGB images in batches of one size (MTCNN stacks a batch); bad files go to `bad`."""
    for start in range(0, len(pending), batch_size):
        by_size: dict[tuple[int, int], list[tuple[int, Image.Image]]] = {}
        for i in pending[start:start + batch_size]:
            try:
                with Image.open(filepaths[i]) as opened:
                    image = ImageOps.exif_transpose(opened).convert("RGB")
            except IMAGE_ERRORS as error:
                if not skip_bad:
                    raise DataError(f"{filepaths[i]}: cannot read image ({error}); fix or remove "
                                    "it, or pass --skip-bad to skip and list bad images") from None
                bad[filepaths[i]] = f"unreadable: {error}"
                _tick(progress)
                continue
            by_size.setdefault(image.size, []).append((i, image))
        yield from by_size.values()


def _detect(detector, images: list[Image.Image]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """(box, eye points) of the largest face per image, None where MTCNN found none."""
    boxes, _, points = detector.detect(images, landmarks=True)
    return [None if box is None else (np.asarray(box[0], float), np.asarray(point[0][:2], float))
            for box, point in zip(boxes, points)]


def _save(crop: Image.Image, target: Path) -> None:
    image_format = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    extra = {"quality": 95} if image_format == "JPEG" else {}
    atomic_write(target, lambda tmp: crop.save(tmp, format=image_format, **extra))


def _write_lists(manifest: Manifest, out_dir: Path, targets: list[Path], no_face: set[str],
                 bad: dict[str, str]) -> None:
    table = manifest.table
    columns = [c for c in ("label", "split", "truth", "votes") if c in table]
    faceless = table["filepath"].isin(no_face)
    usable = ~faceless & ~table["filepath"].isin(set(bad))
    labels = table.loc[usable, columns].assign(
        filepath=[targets[i].relative_to(out_dir).as_posix() for i in np.flatnonzero(usable)])
    labels = labels[["filepath", *columns]]
    atomic_write(out_dir / LABELS, lambda tmp: labels.to_csv(tmp, index=False))
    faceless_rows = table.loc[faceless, ["filepath", "label", "split"]]
    atomic_write(out_dir / NO_FACE, lambda tmp: faceless_rows.to_csv(tmp, index=False))
    bad_rows = skipped_rows(list(bad), list(bad.values()))
    if bad:
        atomic_write(out_dir / BAD_IMAGES, lambda tmp: bad_rows.to_csv(tmp, index=False))
    else:
        (out_dir / BAD_IMAGES).unlink(missing_ok=True)  # a list from an earlier run is stale now


def _tick(progress: Callable[[], None] | None) -> None:
    if progress is not None:
        progress()
