"""Shared test set-up: FiftyOne runs on a throwaway database, never the user's.

The environment is set when pytest imports this file, before any test module imports fiftyone,
because FiftyOne reads its configuration once, at import.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

_FIFTYONE_HOME = Path(tempfile.mkdtemp(prefix="curator-tests-fiftyone-"))
(_FIFTYONE_HOME / "plugins").mkdir()
os.environ.pop("FIFTYONE_DATABASE_URI", None)
os.environ.update(
    FIFTYONE_DATABASE_DIR=str(_FIFTYONE_HOME / "db"),
    FIFTYONE_PLUGINS_DIR=str(_FIFTYONE_HOME / "plugins"),  # no user plugins leak into tests
    FIFTYONE_DO_NOT_TRACK="true",
    FIFTYONE_DATABASE_VALIDATION="false",  # silences the "oldest supported MongoDB" notice
    FIFTYONE_SHOW_PROGRESS_BARS="false",
)


COLOURS = {"happy": (250, 200, 40), "sad": (40, 60, 220), "angry": (220, 30, 30)}


def colour_folder(root: Path, per_class: int, *, seed: int) -> Path:
    """`per_class` noisy 16 px images of each of COLOURS' classes, one subfolder per class."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 30, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """Three classes of seven 16 px images each, one subfolder per class (read-only)."""
    return colour_folder(tmp_path_factory.mktemp("data") / "faces", 7, seed=0)


def pytest_unconfigure(config):
    """Stop the test database (if a test started it), then delete it (~300 MB of journal)."""
    database = sys.modules.get("fiftyone.core.odm.database")
    service = getattr(database, "_db_service", None)  # FiftyOne only stops it at interpreter exit
    if service is not None:
        service.stop()
    shutil.rmtree(_FIFTYONE_HOME, ignore_errors=True)
