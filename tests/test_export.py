"""curator export: cleaned CSV / folder / RAF-DB outputs of small synthetic runs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curator import runlog
from curator.data.importers import load_manifest
from curator.errors import CuratorError, DataError, ReviewError, RunError
from curator.export import cleaned_labels, export, label_changes
from curator.scores import sample_scores
from synthetic_run import make_run

N_TRAIN, N_VAL = 40, 4


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "data", n_train=N_TRAIN, n_val=N_VAL, epochs=3)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _train_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["split"] == "train"]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_export_keep__keeps_every_label_and_marks_proposals_pending(run_dir, out_dir):
    export(run_dir, out_dir / "cleaned.csv")
    table = pd.read_csv(out_dir / "cleaned.csv")
    assert (table["final_label"] == table["original_label"]).all()
    train = _train_rows(table)
    assert set(train.loc[train["proposed_label"].notna(), "status"]) == {"pending"}
    flagged = sample_scores(run_dir).set_index("filepath")["ambiguous"]
    without = train[train["proposed_label"].isna()]
    expected = np.where(flagged.loc[without["filepath"]].to_numpy(), "ambiguous", "unchanged")
    assert without["status"].tolist() == expected.tolist()
    assert train["proposed_label"].notna().any() and (without["status"] == "ambiguous").any()


def test_export_accept_proposals__takes_every_proposal_as_auto(run_dir, out_dir):
    export(run_dir, out_dir / "cleaned.csv", policy="accept-proposals")
    table = pd.read_csv(out_dir / "cleaned.csv")
    proposed = table["proposed_label"].notna()
    assert set(table.loc[proposed, "status"]) == {"auto"}
    assert (table.loc[proposed, "final_label"] == table.loc[proposed, "proposed_label"]).all()
    kept = table[~proposed]
    assert (kept["final_label"] == kept["original_label"]).all()


def test_export_min_confidence__leaves_unsure_proposals_pending(run_dir, out_dir):
    scores = sample_scores(run_dir)
    threshold = float(scores["confidence"].dropna().median())
    export(run_dir, out_dir / "cleaned.csv", policy="accept-proposals", min_confidence=threshold)
    table = _train_rows(pd.read_csv(out_dir / "cleaned.csv"))
    proposed = table[table["proposed_label"].notna()]
    sure = proposed["confidence"] >= threshold - 1e-6
    assert set(proposed.loc[sure, "status"]) == {"auto"}
    assert set(proposed.loc[~sure, "status"]) == {"pending"}
    assert (proposed.loc[~sure, "final_label"] == proposed.loc[~sure, "original_label"]).all()


def test_export_ambiguous_drop__leaves_the_ambiguous_faces_out(run_dir, out_dir):
    export(run_dir, out_dir / "all.csv")
    kept = pd.read_csv(out_dir / "all.csv")
    export(run_dir, out_dir / "dropped.csv", ambiguous="drop")
    dropped = pd.read_csv(out_dir / "dropped.csv")
    assert len(dropped) == len(kept) - (kept["status"] == "ambiguous").sum() < len(kept)
    assert "ambiguous" not in set(dropped["status"])


def test_export_ambiguous_list__writes_the_re_annotation_list_beside_the_csv(run_dir, out_dir):
    table = export(run_dir, out_dir / "cleaned.csv", ambiguous="list")
    listed = pd.read_csv(out_dir / "cleaned.ambiguous.csv")
    assert listed["filepath"].tolist() == table.loc[table["status"] == "ambiguous", "filepath"].tolist()
    assert list(listed.columns) == ["filepath", "original_label", "ambiguity"]


def test_export_csv__one_row_per_sample_with_absolute_paths_and_the_run_scores(run_dir, out_dir):
    export(run_dir, out_dir / "cleaned.csv")
    table = pd.read_csv(out_dir / "cleaned.csv")
    assert list(table.columns) == ["filepath", "split", "original_label", "proposed_label",
                                   "final_label", "status", "scn_weight", "suspicion",
                                   "ambiguity", "confidence", "expected_gain"]
    assert len(table) == N_TRAIN + N_VAL
    assert all(os.path.isabs(p) and os.path.exists(p) for p in table["filepath"])
    last = pd.read_parquet(runlog.epoch_path(run_dir, 3)).sort_values("sample_id")
    train = _train_rows(table)
    np.testing.assert_allclose(train["scn_weight"], last["weight"], rtol=1e-5)
    held_out = table[table["split"] == "val"]
    assert len(held_out) == N_VAL and set(held_out["status"]) == {"held-out"}
    assert held_out["scn_weight"].isna().all()


def test_export_csv__has_no_split_column_when_every_sample_trains(tmp_path, out_dir):
    run_dir = make_run(tmp_path / "data", n_train=12, epochs=2)
    export(run_dir, out_dir / "cleaned.csv")
    assert "split" not in pd.read_csv(out_dir / "cleaned.csv").columns


def test_export_csv__trains_again_through_the_csv_importer(run_dir, out_dir):
    table = export(run_dir, out_dir / "cleaned.csv", policy="accept-proposals")
    manifest = load_manifest(out_dir / "cleaned.csv", format="csv", label_column="final_label")
    assert manifest.table["label"].tolist() == table["final_label"].tolist()
    assert manifest.table["split"].tolist() == table["split"].tolist()


def test_export_folder__links_each_image_under_its_split_and_final_label(run_dir, out_dir):
    table = export(run_dir, out_dir / "tree", fmt="folder", policy="accept-proposals")
    for row in table.itertuples():
        link = out_dir / "tree" / row.split / row.final_label / Path(row.filepath).name
        assert link.is_symlink() and link.resolve() == Path(row.filepath).resolve()
    manifest = load_manifest(out_dir / "tree", format="folder")
    assert len(manifest) == len(table)


def test_export_folder_copy__copies_the_images(run_dir, out_dir):
    table = export(run_dir, out_dir / "tree", fmt="folder", copy=True)
    row = table.iloc[0]
    copied = out_dir / "tree" / row["split"] / row["final_label"] / Path(row["filepath"]).name
    assert copied.is_file() and not copied.is_symlink()
    assert copied.read_bytes() == Path(row["filepath"]).read_bytes()


def test_export_rafdb__writes_the_label_list_and_aligned_links(run_dir, out_dir):
    table = export(run_dir, out_dir / "raf", fmt="rafdb", policy="accept-proposals")
    lines = (out_dir / "raf/EmoLabel/list_patition_label.txt").read_text().splitlines()
    assert lines[0] == f"train_00001.png {dict(angry=6, happy=4, neutral=7, sad=5)[table['final_label'][0]]}"
    assert len(lines) == len(table) and lines[-1].startswith(f"test_{N_VAL:04d}.png ")
    link = out_dir / "raf/Image/aligned/train_00001_aligned.png"
    assert link.resolve() == Path(table["filepath"][0]).resolve()
    manifest = load_manifest(out_dir / "raf", format="rafdb")
    names = {"angry": "anger", "happy": "happiness", "neutral": "neutral", "sad": "sadness"}
    assert manifest.table["label"].tolist() == [names[label] for label in table["final_label"]]


def test_export_rafdb__a_class_without_a_rafdb_id_is_an_error_and_writes_nothing(tmp_path, out_dir):
    run_dir = make_run(tmp_path / "data", n_train=12, epochs=2, classes=("happy", "contempt"))
    with pytest.raises(DataError, match="'contempt' has no RAF-DB id"):
        export(run_dir, out_dir / "raf", fmt="rafdb")
    assert _leftovers(out_dir) == []


def test_export__refuses_to_overwrite_without_force(run_dir, out_dir):
    (out_dir / "cleaned.csv").write_text("mine\n")
    with pytest.raises(DataError, match="already exists; add --force"):
        export(run_dir, out_dir / "cleaned.csv")
    assert (out_dir / "cleaned.csv").read_text() == "mine\n"
    export(run_dir, out_dir / "cleaned.csv", force=True)
    assert len(pd.read_csv(out_dir / "cleaned.csv")) == N_TRAIN + N_VAL


def test_export_force__replaces_its_own_tree_but_never_a_foreign_folder(run_dir, out_dir):
    export(run_dir, out_dir / "tree", fmt="folder")
    with pytest.raises(DataError, match="already exists"):
        export(run_dir, out_dir / "tree", fmt="folder", policy="accept-proposals")
    export(run_dir, out_dir / "tree", fmt="folder", policy="accept-proposals", force=True)
    assert _leftovers(out_dir) == ["tree"]
    (out_dir / "photos").mkdir()
    (out_dir / "photos" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="not written by curator"):
        export(run_dir, out_dir / "photos", fmt="folder", force=True)
    assert (out_dir / "photos" / "holiday.jpg").exists()


def test_export__output_in_a_missing_folder_is_a_clear_error(run_dir, out_dir):
    with pytest.raises(DataError, match="does not exist; create it first"):
        export(run_dir, out_dir / "missing" / "cleaned.csv")


@pytest.mark.parametrize("options, message", [
    (dict(policy="accept-all"), "unknown --policy 'accept-all'; choose one of: keep, accept-proposals"),
    (dict(fmt="xlsx"), "unknown --format 'xlsx'"),
    (dict(min_confidence=0.5), "--min-confidence only limits --policy accept-proposals"),
    (dict(policy="accept-proposals", min_confidence=1.5), r"--min-confidence must lie in \[0, 1\]"),
    (dict(copy=True), "--copy applies to image trees"),
    (dict(ambiguous="ignore"), "unknown --ambiguous 'ignore'; choose one of: keep, drop, list"),
])
def test_export__bad_options_are_refused_before_writing(run_dir, out_dir, options, message):
    with pytest.raises(CuratorError, match=message):
        export(run_dir, out_dir / "cleaned.csv", **options)
    assert _leftovers(out_dir) == []


def test_export__run_still_training_is_refused_unless_partial(tmp_path, out_dir):
    run_dir = make_run(tmp_path / "data", n_train=12, epochs=2, state="training")
    with pytest.raises(RunError, match=r"still training \(2 of 2 epochs done\).*--partial"):
        export(run_dir, out_dir / "cleaned.csv")
    assert _leftovers(out_dir) == []
    export(run_dir, out_dir / "cleaned.csv", partial=True)
    assert len(pd.read_csv(out_dir / "cleaned.csv")) == 12


def test_export__a_path_that_is_no_run_is_an_error_naming_it(tmp_path, out_dir):
    with pytest.raises(RunError, match=f"{tmp_path / 'nowhere'} is not a curator run directory"):
        export(tmp_path / "nowhere", out_dir / "cleaned.csv")


def _decisions(table: pd.DataFrame, **by_status: list[int]) -> pd.DataFrame:
    rows = [(table["sample_id"].iloc[i], status, None) for status, rows in by_status.items() for i in rows]
    return pd.DataFrame(rows, columns=["sample_id", "review_status", "reviewed_label"])


def test_cleaned_labels__review_decisions_win_and_set_the_final_label(tmp_path):
    run_dir = make_run(tmp_path / "data", n_train=60, epochs=3)
    scores = sample_scores(run_dir)
    manifest = runlog.read_manifest(run_dir)
    proposed = np.flatnonzero(scores["proposed_label"].notna().to_numpy())
    assert len(proposed) >= 4
    accepted, rejected, edited, untouched = (int(i) for i in proposed[:4])
    decisions = _decisions(scores, accepted=[accepted], rejected=[rejected], edited=[edited])
    decisions.loc[decisions["review_status"] == "edited", "reviewed_label"] = "neutral"
    table = cleaned_labels(scores, manifest, decisions=decisions, policy="accept-proposals")
    row = table.set_index("sample_id").loc
    ids = scores["sample_id"]
    assert row[ids[accepted], "status"] == "accepted"
    assert row[ids[accepted], "final_label"] == scores["proposed_label"][accepted]
    assert row[ids[rejected], "status"] == "rejected"
    assert row[ids[rejected], "final_label"] == scores["given_label"][rejected]
    assert row[ids[edited], "status"] == "edited" and row[ids[edited], "final_label"] == "neutral"
    assert row[ids[untouched], "status"] == "auto"  # the policy acts on undecided samples only


def test_cleaned_labels__an_edit_to_an_unknown_class_is_an_error_naming_the_sample(run_dir):
    scores = sample_scores(run_dir)
    decisions = _decisions(scores, edited=[3])
    decisions["reviewed_label"] = "hapy"
    with pytest.raises(ReviewError, match=r"sample 3 .*edited with label 'hapy'"):
        cleaned_labels(scores, runlog.read_manifest(run_dir), decisions=decisions)


def test_label_changes__counts_each_original_final_pair():
    table = pd.DataFrame({"original_label": ["sad", "sad", "sad", "happy"],
                          "final_label": ["happy", "happy", "sad", "sad"]})
    changes = label_changes(table)
    assert changes.values.tolist() == [["sad", "happy", 2], ["happy", "sad", 1]]


# ---------------------------------------------------------------- from a review dataset
@pytest.fixture
def reviewed(run_dir):
    """A review dataset of `run_dir` with one accepted, one rejected and one edited proposal."""
    import fiftyone as fo
    from fiftyone import ViewField as F

    from curator import review
    from curator.review import schema

    name = "curator-test-export"
    dataset = review.load_run(run_dir, name=name, overwrite=True)
    proposed = dataset.exists(schema.RELABEL).values(schema.SAMPLE_ID)
    one = lambda sample_id: dataset.match(F(schema.SAMPLE_ID) == sample_id)  # noqa: E731
    review.accept(one(proposed[0]))
    review.reject(one(proposed[1]))
    review.set_label(one(proposed[2]), "neutral")
    yield name, proposed[:4]
    fo.delete_dataset(name)


def test_export_from_a_review_dataset__final_labels_follow_the_decisions(run_dir, reviewed, out_dir):
    name, (accepted, rejected, edited, undecided) = reviewed
    table = export(name, out_dir / "cleaned.csv").set_index("sample_id")
    scores = sample_scores(run_dir).set_index("sample_id")
    assert table.loc[accepted, ["status", "final_label"]].tolist() == ["accepted", scores.loc[accepted, "proposed_label"]]
    assert table.loc[rejected, ["status", "final_label"]].tolist() == ["rejected", scores.loc[rejected, "given_label"]]
    assert table.loc[edited, ["status", "final_label"]].tolist() == ["edited", "neutral"]
    assert table.loc[undecided, "status"] == "pending"
    written = pd.read_csv(out_dir / "cleaned.csv")
    assert written["status"].value_counts()[["accepted", "rejected", "edited"]].tolist() == [1, 1, 1]


def test_export_from_a_review_dataset__policy_takes_only_undecided_proposals(reviewed, out_dir):
    name, (accepted, rejected, edited, undecided) = reviewed
    table = export(name, out_dir / "cleaned.csv", policy="accept-proposals").set_index("sample_id")
    assert table.loc[[accepted, rejected, edited, undecided], "status"].tolist() == [
        "accepted", "rejected", "edited", "auto"]


def test_export__a_name_that_is_neither_run_nor_dataset_is_an_error_naming_it(out_dir):
    with pytest.raises(RunError, match="'no-such-review' is neither a run directory nor a FiftyOne dataset"):
        export("no-such-review", out_dir / "cleaned.csv")


def test_export_of_a_run__never_imports_fiftyone(run_dir, out_dir):
    import subprocess
    import sys

    code = ("import sys; from curator.export import export; "
            f"export({str(run_dir)!r}, {str(out_dir / 'c.csv')!r}); "
            "assert 'fiftyone' not in sys.modules, 'fiftyone was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the command line
def test_cli_export__prints_the_changes_and_exits_1_with_one_line_on_bad_input(run_dir, out_dir):
    from typer.testing import CliRunner

    from curator_cli.main import app

    result = CliRunner().invoke(app, ["export", str(run_dir), "--out", str(out_dir / "c.csv"),
                                      "--policy", "accept-proposals"])
    assert result.exit_code == 0, result.output
    assert "changed labels" in result.output and f"wrote {N_TRAIN + N_VAL} samples" in result.output
    bad = CliRunner().invoke(app, ["export", str(run_dir), "--out", str(out_dir / "d.csv"),
                                   "--policy", "yolo"])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == ["error: unknown --policy 'yolo'; choose one of: keep, "
                                               "accept-proposals"]
    assert not (out_dir / "d.csv").exists()
