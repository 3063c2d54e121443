"""`curator train` from the command line on the shipped sample_data, and its one-line errors."""

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from curator import runlog
from curator_cli.main import app

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
runner = CliRunner()
ONE_QUICK_EPOCH = ["--epochs", "1", "--backbone", "compact", "--no-pretrained", "--image-size", "32",
                   "--device", "cpu"]


def test_train_sample_data__a_record_for_every_sample_and_epoch_trained_or_held_out(tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(SAMPLE_DATA), "--out", str(run), "--epochs", "2",
                                 "--image-size", "64", "--no-pretrained", "--seed", "0",
                                 "--device", "cpu", "--attention-lr-scale", "0.5"])
    assert result.exit_code == 0, result.output
    assert "epoch   2" in result.output

    labels = pd.read_csv(SAMPLE_DATA / "labels.csv")
    manifest = runlog.read_manifest(run)
    held = manifest.table[manifest.table["split"] == "holdout"]
    # round(10%) of each class: 6 of 59..64 given labels, 7 of 65..68
    expected_held = labels["label"].value_counts().map(lambda n: 7 if n >= 65 else 6)
    assert held["label"].value_counts().sort_index().to_dict() == expected_held.sort_index().to_dict()
    records = runlog.read_epochs(run)
    assert records.groupby("epoch")["sample_id"].nunique().tolist() == [len(labels) - len(held)] * 2
    for epoch in (1, 2):
        held_records = runlog.read_holdout(run, epoch)
        assert sorted(held_records["sample_id"]) == sorted(held["sample_id"])
        trained = set(records.loc[records["epoch"] == epoch, "sample_id"])
        assert trained.isdisjoint(held_records["sample_id"])
        assert len(trained) + len(held_records) == len(labels)
    by_path = records[records["epoch"] == 1].set_index("filepath")["given_label"].astype(str)
    expected = {str((SAMPLE_DATA / p).resolve()): label for p, label in zip(labels["filepath"], labels["label"])}
    assert by_path.to_dict() == {path: expected[path] for path in by_path.index}
    assert runlog.read_config(run).backbone == "resnet18"
    assert runlog.read_config(run).attention_lr_scale == 0.5


def test_train__missing_data_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nope"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "nope does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_train__a_path_with_square_brackets_is_named_in_full(tmp_path):
    data = tmp_path / "labels[v2].csv"  # brackets are rich markup: the error must not eat them
    data.write_text("filepath,label\nface[a1].png,happy\n")
    result = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert f"error: {data}: line 2: image {tmp_path / 'face[a1].png'} does not exist" in result.output
    run = tmp_path / "run[v2]"
    result = runner.invoke(app, ["train", str(SAMPLE_DATA), "--out", str(run), *ONE_QUICK_EPOCH],
                           env={"COLUMNS": "500"})
    assert result.exit_code == 0, result.output
    assert f"run written to {run};" in result.output


def test_train__unavailable_weights_fail_before_the_run_is_written(tmp_path):
    run = tmp_path / "run"
    args = ["train", str(SAMPLE_DATA), "--out", str(run), "--backbone", "compact", "--epochs", "1",
            "--image-size", "32", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.startswith("error: backbone 'compact' has no published weights")
    assert not run.exists()
    # so the same --out takes the corrected command
    result = runner.invoke(app, args + ["--no-pretrained"])
    assert result.exit_code == 0, result.output


def test_train__skip_bad_lists_the_skipped_image_in_the_run(tmp_path):
    labels = pd.read_csv(SAMPLE_DATA / "labels.csv")
    labels["filepath"] = [str(SAMPLE_DATA / p) for p in labels["filepath"]]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    data = tmp_path / "labels.csv"
    pd.concat([labels, pd.DataFrame({"filepath": [str(broken)], "label": ["happy"]})]).to_csv(data, index=False)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(data), "--out", str(run), "--skip-bad",
                                 *ONE_QUICK_EPOCH])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(run / runlog.BAD_IMAGES)["filepath"].tolist() == [str(broken)]
    assert len(runlog.read_manifest(run).table) == len(labels)


def test_train__mtcnn_onet_starts_from_its_face_weights_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached, nothing to fetch
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(SAMPLE_DATA), "--out", str(run), "--backbone",
                                 "mtcnn_onet", "--image-size", "48", "--epochs", "1", "--lr", "0.01",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "mtcnn_onet with its published pretrained weights" in result.output
    assert runlog.completed_epochs(run) == [1]


def test_train__bad_option_value_names_the_option(tmp_path):
    result = runner.invoke(app, ["train", str(SAMPLE_DATA), "--out", str(tmp_path / "run"),
                                 "--relabel-scope", "everything"])
    assert result.exit_code == 1
    assert "--relabel-scope must be one of low, batch" in result.output


def test_train__resume_changes_the_proposal_window_and_rule_of_a_finished_run(tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(SAMPLE_DATA), "--out", str(run), *ONE_QUICK_EPOCH])
    assert result.exit_code == 0, result.output
    assert runlog.read_config(run).proposal_window == 5
    result = runner.invoke(app, ["train", "--out", str(run), "--resume", "--proposal-window", "-1"])
    assert result.exit_code == 1
    assert result.output.startswith("error: --proposal-window must be 0 (every epoch) or more")
    result = runner.invoke(app, ["train", "--out", str(run), "--resume", "--proposal-window", "0"])
    assert result.exit_code == 0, result.output
    assert runlog.read_config(run).proposal_window == 0
    result = runner.invoke(app, ["train", "--out", str(run), "--resume", "--proposal-rule", "odds"])
    assert result.exit_code == 1
    assert result.output.startswith("error: --proposal-rule must be one of auto, lead, ratio")
    result = runner.invoke(app, ["train", "--out", str(run), "--resume", "--proposal-rule", "ratio"])
    assert result.exit_code == 0, result.output
    assert runlog.read_config(run).proposal_rule == "ratio"
    assert runlog.read_config(run).proposal_window == 0
    assert runlog.completed_epochs(run) == [1]


def test_train__resume_without_a_run_says_how_to_start_one(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--resume"])
    assert result.exit_code == 1
    assert "not a curator run directory" in result.output


def test_train_help__says_where_each_recipe_default_comes_from():
    # square brackets in a help text are rich markup and vanish from the printed help
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "Learning rate (default: from --recipe)." in text
    assert "RR margin delta_1 (default: 0.15 with --recipe paper, 0.07 with authors-code)." in text
    assert text.count("(default: from --recipe)") == 9
