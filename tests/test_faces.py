"""Face preparation: MTCNN on a real photo (skimage's astronaut) and on images without a face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from PIL import Image
from skimage import data as skimage_data
from typer.testing import CliRunner

from curator.data.importers import load_manifest
from curator.errors import DataError
from curator.faces import align_crop, prepare_faces
from curator_cli.prepare import prepare


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Faces: happy/astronaut.jpg, sad/mirrored.png (256 px); no face: sad/noise.png, sad/blank.png."""
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()
    astronaut = Image.fromarray(skimage_data.astronaut()).resize((256, 256))
    astronaut.save(root / "happy" / "astronaut.jpg")
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "sad" / "mirrored.png")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "sad" / "noise.png")
    Image.new("RGB", (64, 64), (200, 200, 200)).save(root / "sad" / "blank.png")
    return root


def test_align_crop__levels_tilted_eyes_and_returns_the_requested_size() -> None:
    image = Image.new("L", (100, 100), 0)
    for x, y in ((30, 40), (70, 60)):  # eyes on a 26.6 degree slope
        image.paste(255, (x - 1, y - 1, x + 2, y + 2))

    crop = align_crop(image, np.array([20.0, 20.0, 80.0, 80.0]), np.array([[30.0, 40.0], [70.0, 60.0]]),
                      image_size=60, margin=0)

    assert crop.size == (60, 60)
    bright = np.argwhere(np.asarray(crop) > 128)  # (row, column) of the two dots
    left, right = bright[bright[:, 1] < 30], bright[bright[:, 1] >= 30]
    assert abs(left[:, 0].mean() - right[:, 0].mean()) < 1.0
    # distance between the eyes is kept: sqrt(40^2 + 20^2) = 44.7 px at scale 1
    assert right[:, 1].mean() - left[:, 1].mean() == pytest.approx(44.7, abs=1.5)


def test_align_crop__margin_adds_context_around_the_box() -> None:
    image = Image.new("L", (100, 100), 0)
    image.paste(255, (20, 20, 80, 80))
    eyes = np.array([[35.0, 40.0], [65.0, 40.0]])

    tight = np.asarray(align_crop(image, np.array([20.0, 20, 80, 80]), eyes, image_size=40, margin=0))
    loose = np.asarray(align_crop(image, np.array([20.0, 20, 80, 80]), eyes, image_size=40, margin=20))

    assert tight.mean() > 240  # the box fills the crop
    assert (loose > 128).mean() == pytest.approx(0.25, abs=0.05)  # face fills 20 of 40 px per side


def test_prepare_faces__crops_faces_lists_no_face_images_and_writes_labels(photos: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "prepared"

    result = prepare_faces(load_manifest(photos), out, image_size=48)

    assert (result.cropped, result.reused, result.no_face, result.bad) == (2, 0, 2, 0)
    for crop_path in (out / "happy" / "astronaut.jpg", out / "sad" / "mirrored.png"):
        with Image.open(crop_path) as crop:
            assert crop.size == (48, 48)
    no_face = pd.read_csv(out / "no_face.csv")
    assert sorted(Path(p).name for p in no_face["filepath"]) == ["blank.png", "noise.png"]
    assert set(no_face["label"]) == {"sad"}
    assert pd.read_csv(out / "labels.csv").to_dict("records") == [
        {"filepath": "happy/astronaut.jpg", "label": "happy", "split": "train"},
        {"filepath": "sad/mirrored.png", "label": "sad", "split": "train"}]
    assert list(load_manifest(result.labels_csv).table["filepath"]) == [
        str(out / "happy" / "astronaut.jpg"), str(out / "sad" / "mirrored.png")]


def test_prepare_faces__rerun_reuses_crops_and_refuses_other_settings_without_force(
        photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    manifest = load_manifest(photos)
    prepare_faces(manifest, out, image_size=48)

    again = prepare_faces(manifest, out, image_size=48)

    assert (again.cropped, again.reused, again.no_face) == (0, 2, 2)
    with pytest.raises(DataError, match=r"was prepared with .*'image_size': 48.*pass --force"):
        prepare_faces(manifest, out, image_size=32)
    redone = prepare_faces(manifest, out, image_size=32, force=True)
    assert (redone.cropped, redone.reused, redone.no_face) == (2, 0, 2)
    with Image.open(out / "happy" / "astronaut.jpg") as crop:
        assert crop.size == (32, 32)


def test_prepare_faces__unreadable_image_is_named_or_listed_with_skip_bad(photos: Path,
                                                                         tmp_path: Path) -> None:
    manifest = load_manifest(photos)
    (photos / "sad" / "blank.png").write_bytes(b"not an image")

    with pytest.raises(DataError, match=r"blank\.png: cannot read image .*--skip-bad"):
        prepare_faces(manifest, tmp_path / "a", image_size=48)
    result = prepare_faces(manifest, tmp_path / "b", image_size=48, skip_bad=True)

    assert (result.cropped, result.no_face, result.bad) == (2, 1, 1)
    assert Path(pd.read_csv(tmp_path / "b" / "bad_images.csv")["filepath"][0]).name == "blank.png"


def test_prepare_faces__refuses_a_foreign_non_empty_output_folder(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.txt").write_text("keep me")

    with pytest.raises(DataError, match=r"busy is not empty and was not made by `curator prepare`"):
        prepare_faces(load_manifest(photos), tmp_path / "busy")


def test_prepare_command__prints_the_no_face_count_and_the_next_step(photos: Path,
                                                                     tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(prepare)
    out = tmp_path / "prepared"

    result = CliRunner().invoke(app, [str(photos), "--out", str(out), "--image-size", "48"])

    assert result.exit_code == 0, result.output
    assert "2 faces cropped" in result.output
    assert "2 image(s) with no face found" in result.output
    assert f"curator train {out / 'labels.csv'}" in result.output


def test_prepare_command__bad_format_is_one_error_line(photos: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(prepare)

    result = CliRunner().invoke(app, [str(photos), "--out", str(tmp_path / "o"), "--format", "zip"])

    assert result.exit_code == 1
    assert "error: unknown --format 'zip'" in result.output
