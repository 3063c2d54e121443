"""Truth labels, annotator votes and synthetic noise: hand-computed values on tiny tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curator.data.importers import load_manifest
from curator.data.manifest import build
from curator.data.truth import attach_truth, parse_votes, vote_entropy
from curator.errors import CuratorError, DataError
from curator.noise import inject_noise

CLASSES = ("angry", "neutral", "sad")


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    """Three images in data/img; a labels CSV with clean-label and vote columns."""
    for name in ("a", "b", "c"):
        (tmp_path / "data" / "img").mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8)).save(tmp_path / "data" / "img" / f"{name}.png")
    csv = tmp_path / "data" / "labels.csv"
    csv.write_text("filepath,label,clean,votes\n"
                   "img/a.png,sad,sad,sad:9|neutral:1\n"
                   "img/b.png,neutral,angry,angry:6|neutral:4\n"
                   "img/c.png,angry,angry,angry:10\n")
    return csv


def write_truth(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------- votes
def test_parse_votes__counts_in_class_order_with_absent_classes_zero() -> None:
    counts = parse_votes("sad:3 | angry:1", CLASSES)

    assert counts.tolist() == [1.0, 0.0, 3.0]


@pytest.mark.parametrize("text, message", [
    ("", "vote string is empty"),
    ("sad=3", "is not 'class:count'"),
    ("happy:3", "vote class 'happy' is not one of the classes"),
    ("sad:3|sad:1", "appears twice"),
    ("sad:many", "must be a number 0 or more"),
    ("sad:-1", "must be a number 0 or more"),
])
def test_parse_votes__bad_strings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_votes(text, CLASSES)


def test_vote_entropy__hand_computed_values() -> None:
    assert vote_entropy(np.array([10, 0, 0])) == 0.0
    assert vote_entropy(np.array([5, 5, 0])) == pytest.approx(math.log(2))
    assert vote_entropy(np.array([1, 1, 1])) == pytest.approx(math.log(3))
    # -(0.6 ln 0.6 + 0.3 ln 0.3 + 0.1 ln 0.1) = 0.30650 + 0.36119 + 0.23026
    assert vote_entropy(np.array([6, 3, 1])) == pytest.approx(0.89794, abs=1e-5)


def test_vote_entropy__no_votes_is_nan_not_unanimous() -> None:
    assert math.isnan(vote_entropy(np.zeros(3)))


# ---------------------------------------------------------------- truth
def test_attach_truth__truth_csv_matches_by_path_relative_to_itself(data_csv: Path,
                                                                     tmp_path: Path) -> None:
    manifest = load_manifest(data_csv)
    truth = write_truth(tmp_path / "elsewhere" / "truth.csv",
                        "filepath,label\n../data/img/c.png,angry\n"
                        f"{data_csv.parent / 'img' / 'a.png'},neutral\n../data/img/b.png,sad\n"
                        "../data/img/unused.png,sad\n")

    with_truth, skipped = attach_truth(manifest, truth_csv=truth)

    assert list(with_truth.table["truth"]) == ["neutral", "sad", "angry"]
    assert list(with_truth.table["label"]) == list(manifest.table["label"])
    assert skipped.empty


def test_attach_truth__truth_outside_the_classes_names_the_line(data_csv: Path, tmp_path: Path) -> None:
    manifest = load_manifest(data_csv)
    truth = write_truth(tmp_path / "truth.csv", "filepath,label\ndata/img/a.png,sad\n"
                                                "data/img/b.png,happy\ndata/img/c.png,sad\n")

    with pytest.raises(DataError, match=r"truth\.csv: line 3: truth: 'happy' is not one of the "
                                        r"classes.*--skip-bad"):
        attach_truth(manifest, truth_csv=truth)


def test_attach_truth__image_missing_from_truth_csv_is_named(data_csv: Path, tmp_path: Path) -> None:
    manifest = load_manifest(data_csv)
    truth = write_truth(tmp_path / "truth.csv", "filepath,label\ndata/img/a.png,sad\n"
                                                "data/img/c.png,sad\n")

    with pytest.raises(DataError, match=r"truth\.csv: no line for image .*b\.png: truth: missing"):
        attach_truth(manifest, truth_csv=truth)


def test_attach_truth__skip_bad_leaves_truth_missing_and_counts_it(data_csv: Path, tmp_path: Path) -> None:
    manifest = load_manifest(data_csv)
    truth = write_truth(tmp_path / "truth.csv", "filepath,label\ndata/img/a.png,sad\n"
                                                "data/img/b.png,\ndata/img/c.png,happy\n")

    with_truth, skipped = attach_truth(manifest, truth_csv=truth, skip_bad=True)

    assert with_truth.table["truth"].isna().tolist() == [False, True, True]
    assert list(skipped["reason"]) == ["truth: missing",
                                       f"truth: 'happy' is not one of the classes {list(CLASSES)}"]
    assert len(with_truth) == 3


def test_attach_truth__columns_of_the_data_csv_give_truth_and_votes(data_csv: Path) -> None:
    manifest = load_manifest(data_csv)

    with_truth, skipped = attach_truth(manifest, truth_column="clean", votes_column="votes",
                                       data_csv=data_csv)

    assert list(with_truth.table["truth"]) == ["sad", "angry", "angry"]
    assert list(with_truth.table["votes"]) == ["sad:9|neutral:1", "angry:6|neutral:4", "angry:10"]
    assert skipped.empty


def test_attach_truth__unparseable_votes_name_the_line(data_csv: Path) -> None:
    data_csv.write_text(data_csv.read_text().replace("angry:6|neutral:4", "angry:6|happy:4"))
    manifest = load_manifest(data_csv)

    with pytest.raises(DataError, match=r"labels\.csv: line 3: votes: vote class 'happy'"):
        attach_truth(manifest, votes_column="votes", data_csv=data_csv)


def test_attach_truth__truth_column_needs_a_data_csv(data_csv: Path) -> None:
    manifest = load_manifest(data_csv)

    with pytest.raises(DataError, match=r"--truth-column and --votes-column name columns of the data CSV"):
        attach_truth(manifest, truth_column="clean", data_csv=data_csv.parent)


def test_attach_truth__missing_column_lists_those_present(data_csv: Path) -> None:
    manifest = load_manifest(data_csv)

    with pytest.raises(DataError, match=r"missing column\(s\) truth; it has filepath, label, clean, votes"):
        attach_truth(manifest, truth_column="truth", data_csv=data_csv)


# ---------------------------------------------------------------- injected noise
def noisy_fixture() -> pd.DataFrame:
    """10 angry, 7 neutral and 4 sad training rows, plus 3 test rows."""
    labels = ["angry"] * 10 + ["neutral"] * 7 + ["sad"] * 4 + ["angry", "neutral", "sad"]
    splits = ["train"] * 21 + ["test"] * 3
    return pd.DataFrame({"filepath": [f"/img/{i}.png" for i in range(len(labels))],
                         "label": labels, "split": splits})


def test_inject_noise__flips_round_rate_times_n_per_class_never_to_its_own_class() -> None:
    manifest = build(noisy_fixture(), CLASSES, "fixture")

    noisy = inject_noise(manifest, 0.3, seed=0).table

    flipped = noisy[noisy["label"] != noisy["truth"]]
    # round(0.3*10) = 3, round(0.3*7 = 2.1) = 2, round(0.3*4 = 1.2) = 1
    assert flipped["truth"].value_counts().to_dict() == {"angry": 3, "neutral": 2, "sad": 1}
    assert list(noisy["truth"]) == list(manifest.table["label"])
    assert set(flipped["split"]) == {"train"}


def test_inject_noise__rounds_halves_up_despite_float_error() -> None:
    labels = ["angry"] * 10 + ["neutral"] * 10 + ["sad"] * 10
    manifest = build(pd.DataFrame({"filepath": [f"/{i}.png" for i in range(30)], "label": labels}),
                     CLASSES, "fixture")

    noisy = inject_noise(manifest, 0.35, seed=1).table  # 0.35 * 10 = 3.4999999999999996 in floats

    assert (noisy["label"] != noisy["truth"]).sum() == 12


def test_inject_noise__same_seed_same_flips_other_seed_other_flips() -> None:
    manifest = build(noisy_fixture(), CLASSES, "fixture")

    first = inject_noise(manifest, 0.5, seed=7).table["label"]
    again = inject_noise(manifest, 0.5, seed=7).table["label"]
    other = inject_noise(manifest, 0.5, seed=8).table["label"]

    assert first.equals(again)
    assert not first.equals(other)


def test_inject_noise__test_split_is_untouched() -> None:
    manifest = build(noisy_fixture(), CLASSES, "fixture")

    noisy = inject_noise(manifest, 0.9, seed=3).table

    test_rows = noisy[noisy["split"] == "test"]
    assert list(test_rows["label"]) == ["angry", "neutral", "sad"] == list(test_rows["truth"])


def test_inject_noise__refuses_data_that_already_has_truth() -> None:
    manifest = build(noisy_fixture().assign(truth="angry"), CLASSES, "fixture")

    with pytest.raises(DataError, match="already has truth labels"):
        inject_noise(manifest, 0.2, seed=0)


def test_inject_noise__rate_must_be_below_one() -> None:
    manifest = build(noisy_fixture(), CLASSES, "fixture")

    with pytest.raises(CuratorError, match=r"--inject-noise must lie in \[0, 1\)"):
        inject_noise(manifest, 1.0, seed=0)
