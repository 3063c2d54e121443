"""Importers: every supported layout, its auto-detection, the image check, and each bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curator.data.importers import check_images, detect_format, import_data, load_manifest
from curator.data.manifest import Manifest, require_trainable
from curator.errors import DataError

FERPLUS_HEADER = ("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,"
                  "contempt,unknown,NF")


def write_png(path: Path, value: int = 128, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (value, value, value)).save(path)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pixels(seed: int) -> str:
    return " ".join(map(str, np.random.default_rng(seed).integers(0, 256, 48 * 48)))


# ---------------------------------------------------------------- fixtures, one per layout
@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    root = tmp_path / "faces"
    write_png(root / "sad" / "s1.png")
    write_png(root / "happy" / "h1.png")
    write_png(root / "happy" / "nested" / "h2.JPG")
    write_png(root / "happy" / ".hidden.png")
    write_text(root / "happy" / "notes.txt", "not an image")
    return root


@pytest.fixture
def labels_csv(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        write_png(tmp_path / "img" / f"{name}.png")
    return write_text(tmp_path / "labels.csv",
                      "filepath,label,split,final_label,note\n"
                      "img/a.png,happy,train,sad,x\n"
                      f"{tmp_path / 'img' / 'b.png'},sad,Training,happy,y\n"
                      "img/c.png,sad,test,sad,z\n")


@pytest.fixture
def rafdb(tmp_path: Path) -> Path:
    root = tmp_path / "RAF-DB" / "basic"
    names = {"train_00001.jpg": 5, "train_00002.jpg": 1, "test_0001.jpg": 5}
    write_text(root / "EmoLabel" / "list_patition_label.txt",
               "".join(f"{name} {code}\n" for name, code in names.items()))
    for name in names:
        write_png(root / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg"))
    return root


@pytest.fixture
def fer2013(tmp_path: Path) -> Path:
    rows = [(3, "Training"), (4, "Training"), (3, "PublicTest"), (4, "PrivateTest"), (0, "Training"),
            (3, "Training")]
    return write_text(tmp_path / "fer" / "fer2013.csv", "emotion,pixels,Usage\n" + "".join(
        f"{emotion},{pixels(i)},{usage}\n" for i, (emotion, usage) in enumerate(rows)))


@pytest.fixture
def ferplus_beside_fer2013(fer2013: Path) -> Path:
    votes = [
        "Training,fer0000000.png,0,8,1,0,0,0,0,0,1,0",   # happiness
        "Training,fer0000001.png,1,0,0,7,1,1,0,0,0,0",   # sadness
        "PublicTest,fer0000002.png,0,0,0,0,0,0,0,0,2,8",  # NF: excluded
        "PrivateTest,fer0000003.png,0,5,0,5,0,0,0,0,0,0",  # tie: excluded
        "Training,fer0000004.png,0,0,0,0,0,0,0,0,9,1",   # unknown: excluded
        "Training,fer0000005.png,0,10,0,0,0,0,0,0,0,0",  # happiness
    ]
    return write_text(fer2013.parent / "fer2013new.csv", FERPLUS_HEADER + "\n" + "\n".join(votes) + "\n")


@pytest.fixture
def ferplus_folders(tmp_path: Path) -> Path:
    root = tmp_path / "FERPlus"
    splits = {"FER2013Train": ["fer0000000.png,\"(0, 0, 48, 48)\",0,6,0,4,0,0,0,0,0,0",
                               "fer0000001.png,\"(0, 0, 48, 48)\",0,0,0,10,0,0,0,0,0,0"],
              "FER2013Test": ["fer0000002.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,0,0,10"]}
    for folder, lines in splits.items():
        write_text(root / "data" / folder / "label.csv", "\n".join(lines) + "\n")
        for line in lines:
            write_png(root / "data" / folder / line.split(",")[0])
    return root


@pytest.fixture
def affectnet(tmp_path: Path) -> Path:
    images = tmp_path / "AffectNet" / "Manually_Annotated_Images"
    for name in ("1/a.jpg", "1/b.jpg", "2/c.jpg", "2/d.jpg"):
        write_png(images / name)
    return write_text(tmp_path / "AffectNet" / "Manually_Annotated_file_lists" / "training.csv",
                      "subDirectory_filePath,face_x,face_y,face_width,face_height,expression\n"
                      "1/a.jpg,0,0,8,8,1\n1/b.jpg,0,0,8,8,7\n2/c.jpg,0,0,8,8,10\n2/d.jpg,0,0,8,8,0\n")


# ---------------------------------------------------------------- each layout
def test_folder__classes_are_sorted_subfolders_and_hidden_files_ignored(class_folders: Path) -> None:
    manifest = load_manifest(class_folders)

    assert isinstance(manifest, Manifest)
    assert manifest.classes == ("happy", "sad")
    assert sorted(Path(p).name for p in manifest.table["filepath"]) == ["h1.png", "h2.JPG", "s1.png"]
    assert set(manifest.table["split"]) == {"train"}


def test_folder__split_subfolders_set_the_split(tmp_path: Path) -> None:
    write_png(tmp_path / "train" / "happy" / "a.png")
    write_png(tmp_path / "train" / "sad" / "b.png")
    write_png(tmp_path / "test" / "sad" / "c.png")

    table = load_manifest(tmp_path).table

    assert sorted(zip(table["filepath"].map(lambda p: Path(p).name), table["split"])) == [
        ("a.png", "train"), ("b.png", "train"), ("c.png", "test")]


def test_folder__empty_class_folder_is_an_error(class_folders: Path) -> None:
    (class_folders / "angry").mkdir()

    with pytest.raises(DataError, match=r"angry: class folder has no images"):
        load_manifest(class_folders)


def test_csv__paths_relative_to_the_csv_and_split_spellings_normalised(labels_csv: Path) -> None:
    manifest = load_manifest(labels_csv)

    table = manifest.table
    assert list(table["filepath"]) == [str(labels_csv.parent / "img" / f"{n}.png") for n in "abc"]
    assert list(table["label"]) == ["happy", "sad", "sad"]
    assert list(table["split"]) == ["train", "train", "test"]
    assert "note" not in table and "final_label" not in table


def test_csv__label_column_trains_on_another_column(labels_csv: Path) -> None:
    manifest = load_manifest(labels_csv, label_column="final_label")

    assert list(manifest.table["label"]) == ["sad", "happy", "sad"]


def test_csv__missing_columns_are_named_with_the_columns_it_has(tmp_path: Path) -> None:
    csv = write_text(tmp_path / "x.csv", "path,emotion\na.png,happy\n")

    with pytest.raises(DataError, match=r"x\.csv: missing column\(s\) filepath, label; it has path, "
                                        r"emotion.*--label-column"):
        load_manifest(csv, format="csv")


def test_csv__missing_image_names_the_line_or_is_skipped_with_skip_bad(labels_csv: Path) -> None:
    (labels_csv.parent / "img" / "c.png").unlink()
    write_png(labels_csv.parent / "img" / "d.png")
    with labels_csv.open("a") as f:
        f.write("img/d.png,happy,test,happy,w\n")

    with pytest.raises(DataError, match=r"labels\.csv: line 4: image .*c\.png does not exist.*--skip-bad"):
        load_manifest(labels_csv)
    result = import_data(labels_csv, skip_bad=True)
    assert len(result.manifest) == 3
    assert list(result.skipped["reason"]) == ["image file missing"]
    assert result.summary() == "skipped 1 of 4 rows: 1 image file missing"


def test_csv__empty_label_names_the_line(labels_csv: Path) -> None:
    labels_csv.write_text(labels_csv.read_text().replace("img/c.png,sad,", "img/c.png,,"))

    with pytest.raises(DataError, match=r"labels\.csv: line 4: the label is empty"):
        load_manifest(labels_csv)


def test_csv__duplicate_paths_are_refused(labels_csv: Path) -> None:
    with labels_csv.open("a") as f:
        f.write("img/a.png,sad,train,sad,again\n")

    with pytest.raises(DataError, match=r"duplicate image path .*a\.png"):
        load_manifest(labels_csv)


def test_csv__unknown_split_names_the_line(labels_csv: Path) -> None:
    labels_csv.write_text(labels_csv.read_text().replace(",test,", ",holdout,"))

    with pytest.raises(DataError, match=r"labels\.csv: line 4: split 'holdout' must be train, val or test"):
        load_manifest(labels_csv)


def test_csv__header_only_is_an_empty_data_set(tmp_path: Path) -> None:
    csv = write_text(tmp_path / "labels.csv", "filepath,label\n")

    with pytest.raises(DataError, match=r"labels\.csv: no usable images"):
        load_manifest(csv)


def test_csv__class_only_in_test_split_has_no_training_samples(labels_csv: Path) -> None:
    labels_csv.write_text(labels_csv.read_text().replace("img/c.png,sad,test", "img/c.png,angry,test"))

    with pytest.raises(DataError, match=r"class\(es\) angry have no training samples"):
        require_trainable(load_manifest(labels_csv))


def test_rafdb__codes_map_to_names_in_class_order_and_split_from_file_name(rafdb: Path) -> None:
    manifest = load_manifest(rafdb)

    assert manifest.classes == ("surprise", "sadness")  # RAF-DB's order; absent classes dropped
    assert list(manifest.table["label"]) == ["sadness", "surprise", "sadness"]
    assert list(manifest.table["split"]) == ["train", "train", "test"]
    assert manifest.table["filepath"].iloc[0].endswith("Image/aligned/train_00001_aligned.jpg")


def test_rafdb__malformed_line_is_named(rafdb: Path) -> None:
    labels = rafdb / "EmoLabel" / "list_patition_label.txt"
    labels.write_text(labels.read_text() + "train_00003.jpg 9\n")

    with pytest.raises(DataError, match=r"list_patition_label\.txt: line 4: expected"):
        load_manifest(rafdb)


def test_rafdb__missing_image_names_the_line(rafdb: Path) -> None:
    (rafdb / "Image" / "aligned" / "test_0001_aligned.jpg").unlink()

    with pytest.raises(DataError, match=r"list_patition_label\.txt: line 3: image .*test_0001_aligned"):
        load_manifest(rafdb, format="rafdb")


def test_fer2013__pixels_become_cached_48px_pngs_written_once(fer2013: Path) -> None:
    manifest = load_manifest(fer2013.parent)

    table = manifest.table
    assert manifest.classes == ("angry", "happy", "sad")
    assert list(table["label"]) == ["happy", "sad", "happy", "sad", "angry", "happy"]
    assert list(table["split"]) == ["train", "train", "val", "test", "train", "train"]
    second = Path(table["filepath"].iloc[1])
    assert second == fer2013.parent / "fer2013_images" / "fer0000001.png"
    with Image.open(second) as image:
        assert (image.size, image.mode) == ((48, 48), "L")
        assert np.array_equal(np.asarray(image).ravel(), np.array(pixels(1).split(), dtype=np.uint8))
    write_png(second, value=255, size=48)
    load_manifest(fer2013)
    with Image.open(second) as image:
        assert np.asarray(image).min() == 255  # reused, not written again
    assert not list(second.parent.glob(".*"))  # no temporary files left behind


def test_fer2013__cache_dir_is_used(fer2013: Path, tmp_path: Path) -> None:
    manifest = load_manifest(fer2013, cache_dir=tmp_path / "cache")

    assert all(Path(p).parent == tmp_path / "cache" for p in manifest.table["filepath"])


def test_fer2013__broken_pixels_name_the_line_or_are_skipped(fer2013: Path) -> None:
    lines = fer2013.read_text().splitlines()
    lines[1] = "3,1 2 3,Training"
    fer2013.write_text("\n".join(lines) + "\n")

    with pytest.raises(DataError, match=r"fer2013\.csv: line 2: pixels must be 2304 numbers"):
        load_manifest(fer2013)
    result = import_data(fer2013, skip_bad=True)
    assert len(result.manifest) == 5
    assert list(result.skipped["reason"]) == ["broken pixel string"]


def test_fer2013__unknown_emotion_names_the_line(fer2013: Path) -> None:
    fer2013.write_text(fer2013.read_text().replace("\n0,", "\n9,"))

    with pytest.raises(DataError, match=r"fer2013\.csv: line 6: emotion '9' must be an integer 0-6"):
        load_manifest(fer2013)


def test_ferplus__majority_vote_labels_and_excluded_rows_are_counted(
        ferplus_beside_fer2013: Path) -> None:
    result = import_data(ferplus_beside_fer2013.parent)

    assert result.format == "ferplus"
    table = result.manifest.table
    assert list(table["label"]) == ["happiness", "sadness", "happiness"]
    assert list(table["votes"]) == ["happiness:8|surprise:1", "neutral:1|sadness:7|anger:1|disgust:1",
                                    "happiness:10"]
    assert Path(table["filepath"].iloc[1]).name == "fer0000001.png"
    assert Path(table["filepath"].iloc[1]).is_file()
    assert result.manifest.classes == ("happiness", "sadness")
    assert result.summary() == ("skipped 3 of 6 rows: 2 FERPlus: majority vote unknown or NF "
                                "(not a face), 1 FERPlus: no clear majority vote")


def test_ferplus__single_votes_are_noise_and_a_class_needs_over_half(fer2013: Path) -> None:
    write_text(fer2013.parent / "fer2013new.csv", FERPLUS_HEADER + "\n" + "\n".join([
        "Training,fer0000000.png,4,3,1,1,1,0,0,0,0,0",   # 4 of 7 after dropping single votes
        "Training,fer0000001.png,4,4,2,0,0,0,0,0,0,0",   # 4 of 10: no majority
        "Training,fer0000002.png,2,5,3,0,0,0,0,0,0,0",   # 5 of 10 is not over half
        "Training,fer0000003.png,0,0,0,6,0,0,0,0,0,0",
        "Training,fer0000004.png,0,0,0,0,0,0,0,0,0,0",   # no votes
        "Training,fer0000005.png,0,0,0,6,0,0,0,0,0,0",
    ]) + "\n")

    result = import_data(fer2013.parent / "fer2013new.csv")

    assert list(result.manifest.table["label"]) == ["neutral", "sadness", "sadness"]
    assert result.manifest.classes == ("neutral", "sadness")  # absent classes are dropped, in order
    assert list(result.skipped["reason"]) == ["FERPlus: no clear majority vote"] * 3


def test_ferplus__row_count_must_match_fer2013(ferplus_beside_fer2013: Path) -> None:
    lines = ferplus_beside_fer2013.read_text().splitlines()
    ferplus_beside_fer2013.write_text("\n".join(lines[:-1]) + "\n")

    with pytest.raises(DataError, match=r"fer2013new\.csv has 5 rows but .*fer2013\.csv has 6"):
        load_manifest(ferplus_beside_fer2013)


def test_ferplus__per_split_label_csv_folders(ferplus_folders: Path) -> None:
    result = import_data(ferplus_folders, format="ferplus")

    table = result.manifest.table
    assert list(table["label"]) == ["happiness", "sadness"]
    assert list(table["split"]) == ["train", "train"]
    assert table["filepath"].iloc[0] == str(ferplus_folders / "data" / "FER2013Train" / "fer0000000.png")
    assert list(result.skipped["reason"]) == ["FERPlus: majority vote unknown or NF (not a face)"]


def test_ferplus__new_csv_beside_the_ferplus_image_folders(tmp_path: Path) -> None:
    for name in ("FER2013Train/fer0000000.png", "FER2013Train/fer0000001.png",
                 "FER2013Valid/fer0000002.png"):
        write_png(tmp_path / "images" / name)
    write_text(tmp_path / "fer2013new.csv", FERPLUS_HEADER + "\n"
               "Training,fer0000000.png,9,1,0,0,0,0,0,0,0,0\n"
               "Training,fer0000001.png,0,9,1,0,0,0,0,0,0,0\n"
               "PublicTest,fer0000002.png,0,9,1,0,0,0,0,0,0,0\n"
               "PrivateTest,,0,0,0,0,0,0,0,0,0,10\n")

    result = import_data(tmp_path)

    assert [Path(p).relative_to(tmp_path).as_posix() for p in result.manifest.table["filepath"]] == [
        "images/FER2013Train/fer0000000.png", "images/FER2013Train/fer0000001.png",
        "images/FER2013Valid/fer0000002.png"]
    assert list(result.manifest.table["split"]) == ["train", "train", "val"]
    assert len(result.skipped) == 1


def test_ferplus__non_numeric_vote_names_the_line(ferplus_folders: Path) -> None:
    label_csv = ferplus_folders / "data" / "FER2013Train" / "label.csv"
    label_csv.write_text(label_csv.read_text().replace(",10,0,", ",ten,0,"))

    with pytest.raises(DataError, match=r"FER2013Train/label\.csv: line 2: vote counts must be whole"):
        load_manifest(ferplus_folders)


def test_affectnet__images_under_manually_annotated_images_and_codes_8_to_10_counted(
        affectnet: Path) -> None:
    result = import_data(affectnet)

    assert result.format == "affectnet"
    table = result.manifest.table
    assert list(table["label"]) == ["happy", "contempt", "neutral"]
    assert table["filepath"].iloc[0].endswith("Manually_Annotated_Images/1/a.jpg")
    assert result.summary() == "skipped 1 of 4 rows: 1 AffectNet expression 10 (no face)"


def test_affectnet__out_of_range_expression_names_the_line(affectnet: Path) -> None:
    affectnet.write_text(affectnet.read_text().replace("2/d.jpg,0,0,8,8,0", "2/d.jpg,0,0,8,8,12"))

    with pytest.raises(DataError, match=r"training\.csv: line 5: expression '12' must be an integer 0-10"):
        load_manifest(affectnet)


# ---------------------------------------------------------------- detection and dispatch
@pytest.mark.parametrize("fixture, expected, pick", [
    ("class_folders", "folder", lambda p: p),
    ("labels_csv", "csv", lambda p: p),
    ("rafdb", "rafdb", lambda p: p),
    ("fer2013", "fer2013", lambda p: p),
    ("fer2013", "fer2013", lambda p: p.parent),
    ("ferplus_beside_fer2013", "ferplus", lambda p: p),
    ("ferplus_beside_fer2013", "ferplus", lambda p: p.parent),
    ("ferplus_folders", "ferplus", lambda p: p),
    ("ferplus_folders", "ferplus", lambda p: p / "data" / "FER2013Train" / "label.csv"),
    ("affectnet", "affectnet", lambda p: p),
])
def test_detect_format__recognises_each_layout(request: pytest.FixtureRequest, fixture: str,
                                               expected: str, pick) -> None:
    path = pick(request.getfixturevalue(fixture))

    assert detect_format(path) == expected
    assert len(load_manifest(path)) > 0


def test_unknown_format_lists_the_valid_names(class_folders: Path) -> None:
    with pytest.raises(DataError, match=r"unknown --format 'kaggle'; choose one of: auto, folder, csv, "
                                        r"rafdb, fer2013, ferplus, affectnet"):
        load_manifest(class_folders, format="kaggle")


def test_missing_data_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere does not exist"):
        load_manifest(tmp_path / "nowhere")


def test_folder_without_class_subfolders_says_what_is_expected(tmp_path: Path) -> None:
    write_png(tmp_path / "loose.png")

    with pytest.raises(DataError, match=r"no class subfolders with images; expected"):
        load_manifest(tmp_path)


# ---------------------------------------------------------------- image check
def test_check_images__unreadable_image_is_named_with_the_skip_bad_hint(class_folders: Path) -> None:
    manifest = load_manifest(class_folders)
    broken = class_folders / "happy" / "h1.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")

    with pytest.raises(DataError, match=r"h1\.png: unreadable: .*pass --skip-bad to skip and list"):
        check_images(manifest, skip_bad=False)


def test_check_images__skip_bad_drops_renumbers_and_lists(class_folders: Path) -> None:
    write_png(class_folders / "sad" / "s2.png")
    manifest = load_manifest(class_folders)
    truncated = class_folders / "sad" / "s1.png"
    truncated.write_bytes(truncated.read_bytes()[:-30])
    (class_folders / "happy" / "h1.png").unlink()
    ticks = []

    checked, skipped = check_images(manifest, skip_bad=True, progress=lambda: ticks.append(1))

    assert list(skipped.columns) == ["filepath", "reason"]
    assert sorted(Path(p).name for p in skipped["filepath"]) == ["h1.png", "s1.png"]
    assert "file missing" in list(skipped["reason"])
    assert [Path(p).name for p in checked.table["filepath"]] == ["h2.JPG", "s2.png"]
    assert list(checked.table["sample_id"]) == [0, 1] and len(ticks) == 4


def test_check_images__clean_data_passes_unchanged(labels_csv: Path) -> None:
    manifest = load_manifest(labels_csv)

    checked, skipped = check_images(manifest, skip_bad=False)

    assert checked is manifest and skipped.empty
    assert isinstance(skipped, pd.DataFrame)


def test_auto__folder_with_labels_csv_reads_the_csv(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / name)
    (tmp_path / "labels.csv").write_text("filepath,label\nimages/a.png,happy\nimages/b.png,sad\n")
    result = import_data(tmp_path)
    assert result.format == "csv"
    assert result.manifest.table["label"].tolist() == ["happy", "sad"]
