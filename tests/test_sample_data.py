"""The shipped sample_data/: reproducible from generate.py, balanced, ~15% wrong labels, small."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
CLASSES = {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
NO_BYTECODE = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # keep __pycache__ out of sample_data/


def _digests(root: Path) -> dict[str, str]:
    """sha256 of every generated file under `root` (images and both CSVs), by relative path."""
    files = [*(root / "images").iterdir(), root / "labels.csv", root / "truth.csv"]
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def labels() -> pd.DataFrame:
    """labels.csv joined to truth.csv: filepath, label (given), truth."""
    given = pd.read_csv(SAMPLE_DATA / "labels.csv")
    truth = pd.read_csv(SAMPLE_DATA / "truth.csv")
    assert list(given.columns) == ["filepath", "label"] == list(truth.columns)
    assert given["filepath"].tolist() == truth["filepath"].tolist()
    return given.assign(truth=truth["label"])


def test_generate__reproduces_the_shipped_files_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SAMPLE_DATA / "generate.py"), "--out", str(tmp_path)],
                   check=True, env=NO_BYTECODE)
    regenerated, shipped = _digests(tmp_path), _digests(SAMPLE_DATA)
    assert sorted(regenerated) == sorted(shipped)
    differing = sorted(path for path in shipped if shipped[path] != regenerated[path])
    assert not differing, (f"{len(differing)} shipped files differ from generate.py's output (first: "
                           f"{differing[0]}); run `python sample_data/generate.py --force` and commit")


def test_truth__seven_classes_with_at_least_60_faces_each(labels: pd.DataFrame) -> None:
    counts = labels["truth"].value_counts()
    assert set(counts.index) == CLASSES
    assert counts.min() >= 60


def test_labels__between_10_and_20_percent_wrong_in_every_class(labels: pd.DataFrame) -> None:
    assert set(labels["label"]) <= CLASSES
    wrong = labels["label"] != labels["truth"]
    share_by_class = wrong.groupby(labels["truth"]).mean()
    assert share_by_class.between(0.10, 0.20).all(), share_by_class.to_dict()
    assert 0.10 <= wrong.mean() <= 0.20


def test_images__every_listed_file_is_a_small_rgb_png(labels: pd.DataFrame) -> None:
    on_disk = {p.relative_to(SAMPLE_DATA).as_posix() for p in (SAMPLE_DATA / "images").iterdir()}
    assert on_disk == set(labels["filepath"])
    with Image.open(SAMPLE_DATA / labels["filepath"].iloc[0]) as image:
        assert (image.format, image.mode) == ("PNG", "RGB") and 48 <= image.width <= 96


def test_sample_data__folder_is_under_5_mb() -> None:
    size = sum(p.stat().st_size for p in SAMPLE_DATA.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts)
    assert size < 5 * 1024 * 1024
