"""curator evaluate: a tiny real run's best model on labelled test images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from curator import runlog
from curator.config import TrainConfig
from curator.errors import CuratorError, DataError
from curator.evaluate import evaluate
from curator.train.run import train
from curator_cli.main import app

COLOURS = {"angry": (220, 30, 30), "happy": (250, 200, 40), "sad": (40, 60, 220)}


def _faces(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 30, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(run directory, test folder); the test folder is also the run's validation data."""
    root = tmp_path_factory.mktemp("evaluate")
    test = _faces(root / "test", per_class=4, seed=1)
    config = TrainConfig.from_recipe(
        "paper", data=str(_faces(root / "train", per_class=6, seed=0)), val_data=str(test),
        backbone="compact", pretrained=False, image_size=16, epochs=2, batch_size=8, lr=0.05,
        device="cpu", seed=0)
    return train(config, root / "run"), test


def test_evaluate__accuracy_on_the_validation_data_matches_the_best_epoch(trained):
    run_dir, test = trained
    evaluation = evaluate(run_dir, test, device="cpu")
    assert evaluation.samples == 12 and evaluation.split == "all"
    assert evaluation.confusion.sum(axis=1).tolist() == [4, 4, 4]
    assert evaluation.accuracy == pytest.approx(runlog.read_metrics(run_dir)["val_acc"].max())
    per_class = np.diag(evaluation.confusion) / 4
    np.testing.assert_allclose(evaluation.per_class_accuracy, per_class)


def test_evaluate__matches_test_labels_to_run_classes_by_canonical_name(trained, tmp_path):
    run_dir, test = trained
    files = sorted(test.rglob("*.png"))
    spelled = {"angry": "Anger", "happy": "happiness", "sad": "sadness"}
    pd.DataFrame({"filepath": [str(f) for f in files], "label": [spelled[f.parent.name] for f in files],
                  "split": ["test", "train"] * 6}).to_csv(tmp_path / "t.csv", index=False)
    evaluation = evaluate(run_dir, tmp_path / "t.csv", device="cpu")
    assert evaluation.split == "test" and evaluation.samples == 6


def test_evaluate__a_test_label_outside_the_run_classes_is_an_error(trained, tmp_path):
    run_dir, test = trained
    images = sorted(test.rglob("*.png"))[:2]
    pd.DataFrame({"filepath": [str(i) for i in images], "label": ["contempt", "happy"]}).to_csv(
        tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"\['contempt'\] match none of the run's classes"):
        evaluate(run_dir, tmp_path / "t.csv", device="cpu")


@pytest.mark.parametrize("options, message", [
    (dict(split="holdout"), "unknown --split 'holdout'"),
    (dict(split="val"), "no images in the val split"),
    (dict(checkpoint="final"), "unknown --checkpoint 'final'"),
])
def test_evaluate__bad_options_are_clear_errors(trained, options, message):
    run_dir, test = trained
    with pytest.raises(CuratorError, match=message):
        evaluate(run_dir, test, device="cpu", **options)


def test_cli_evaluate__prints_the_confusion_table_and_writes_json_and_png(trained, tmp_path):
    run_dir, test = trained
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--data", str(test), "--device", "cpu",
                                      "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "happy" in result.output
    numbers = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert numbers["samples"] == 12 and numbers["class_samples"] == {"angry": 4, "happy": 4, "sad": 4}
    assert (tmp_path / "eval" / "confusion.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    again = CliRunner().invoke(app, ["evaluate", str(run_dir), "--data", str(test), "--out",
                                     str(tmp_path / "eval")])
    assert again.exit_code == 1 and "already exists; add --force" in again.output
