"""curator report: real PNGs, a self-contained HTML page and numbers that match the records."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from curator import runlog
from curator.errors import DataError
from curator.report import build_report
from curator.proposals import describe_rule
from curator.scores import sample_scores
from synthetic_run import CLASSES, make_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCHS, RELABEL_EPOCH = 4, 2
ALWAYS = {"weights_per_epoch.png", "group_weights.png", "relabels_per_epoch.png",
          "low_weight_rate.png", "proposals_confusion.png", "lowest_weight_faces.png"}
WITH_TRUTH = {"suspicion_pr_curve.png", "proposal_reliability.png"}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "data", n_train=40, epochs=EPOCHS, relabel_epoch=RELABEL_EPOCH)


def _page_numbers(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-key="([^"]+)">([^<]*)<', html))


def _records(run_dir: Path) -> pd.DataFrame:
    files = sorted((run_dir / "records").glob("epoch_*.parquet"))
    return pd.concat([pd.read_parquet(f).assign(epoch=int(f.stem[-4:])) for f in files])


def test_report__writes_valid_pngs_an_html_page_embedding_them_and_a_summary(run_dir, tmp_path):
    build_report(run_dir, tmp_path / "report")
    folder = tmp_path / "report"
    pngs = {p.name for p in folder.glob("*.png")}
    assert pngs == ALWAYS | WITH_TRUTH
    for name in pngs:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        with Image.open(folder / name) as image:
            image.verify()
        height, width = matplotlib.image.imread(folder / name).shape[:2]
        assert height > 100 and width > 100
    html = (folder / "index.html").read_text()
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted((folder / n).read_bytes() for n in pngs)
    assert "src=\"http" not in html and "<script" not in html
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["epochs"] == list(range(1, EPOCHS + 1)) and summary["classes"] == list(CLASSES)
    scores = sample_scores(run_dir)
    assert summary["proposal_rule"] == {key: scores.attrs[key] for key in
                                        ("proposal_rule", "proposal_window", "late_rise")}
    assert summary["proposal_rule"]["proposal_rule"] in ("lead", "ratio")  # `auto` settled


def test_report__page_numbers_match_the_records(run_dir, tmp_path):
    build_report(run_dir, tmp_path / "report")
    shown = _page_numbers((tmp_path / "report" / "index.html").read_text())
    records = _records(run_dir)
    for epoch, rows in records.groupby("epoch"):
        assert shown[f"epoch.{epoch}.mean_weight_high"] == f"{rows.loc[rows['high'], 'weight'].mean():.3f}"
        assert shown[f"epoch.{epoch}.mean_weight_low"] == f"{rows.loc[~rows['high'], 'weight'].mean():.3f}"
        relabels = (rows["proposed_label"] >= 0).sum() if epoch >= RELABEL_EPOCH else 0
        assert shown[f"epoch.{epoch}.relabels"] == str(relabels)
    for index, name in enumerate(CLASSES):
        of_class = records[records["given_label"] == index]
        assert shown[f"low_weight_rate.{name}"] == f"{(~of_class['high']).mean():.3f}"
    last = records[records["epoch"] == EPOCHS].sort_values("sample_id")
    assert shown["final_mean_weight"] == f"{last['weight'].mean():.3f}"
    assert shown["training_samples"] == str(len(last))


def test_report__truth_numbers_match_an_independent_count(run_dir, tmp_path):
    build_report(run_dir, tmp_path / "report")
    shown = _page_numbers((tmp_path / "report" / "index.html").read_text())
    manifest = runlog.read_manifest(run_dir).table.set_index("sample_id")
    records = _records(run_dir)
    epochs = [g.sort_values("sample_id") for _, g in records.groupby("epoch")]
    probs = np.stack([g[[f"prob_{k}" for k in range(len(CLASSES))]].to_numpy(np.float64)
                      for g in epochs])
    weights = np.stack([g["weight"].to_numpy(np.float64) for g in epochs])
    given = records[records["epoch"] == 1].sort_values("sample_id")["given_label"].to_numpy()
    truth = manifest["truth"].map(CLASSES.index).to_numpy()[: len(given)]
    flipped = given != truth
    rows = np.arange(len(given))
    weighted = probs ** weights[..., None]  # the softmax of the weighted logits
    weighted /= weighted.sum(axis=2, keepdims=True)
    others = weighted.copy()
    others[:, rows, given] = -1.0
    suspicion = (2 * (1 - weighted[:, rows, given]) + others.max(axis=2)).mean(axis=0) / 3
    scored = sample_scores(run_dir)
    np.testing.assert_allclose(scored["suspicion"], suspicion, rtol=1e-4)
    assert shown["truth.flipped"] == str(flipped.sum())
    assert shown["truth.suspicion_auroc"] == f"{roc_auc_score(flipped, suspicion):.3f}"
    proposed = np.array([CLASSES.index(p) if isinstance(p, str) else -1
                         for p in scored["proposed_label"]])
    has = proposed >= 0
    right = has & (proposed == truth)
    assert shown["proposals"] == str(has.sum())
    assert shown["truth.proposal_precision"] == f"{right.sum() / has.sum():.3f}"
    assert shown["truth.proposal_recall"] == f"{(right & flipped).sum() / flipped.sum():.3f}"
    assert shown["truth.clean_labels_changed"] == str((has & ~flipped).sum())
    assert shown["truth.net_gain"] == str(right.sum() - (has & ~flipped).sum())


def test_report__without_truth_has_no_truth_numbers_or_plots(tmp_path):
    run_dir = make_run(tmp_path / "data", n_train=16, epochs=2, truth=False)
    summary = build_report(run_dir, tmp_path / "report")
    assert summary["truth"] is None
    assert {p.name for p in (tmp_path / "report").glob("*.png")} == ALWAYS
    assert "truth." not in (tmp_path / "report" / "index.html").read_text()


def test_report__a_missing_image_gets_a_placeholder_in_the_face_strip(run_dir, tmp_path):
    lowest = sample_scores(run_dir).nsmallest(1, "scn_weight")["filepath"].iloc[0]
    Path(lowest).unlink()
    build_report(run_dir, tmp_path / "report")
    assert (tmp_path / "report" / "lowest_weight_faces.png").read_bytes().startswith(PNG_SIGNATURE)


def test_report__run_still_training_is_reported_from_its_completed_epochs(tmp_path):
    run_dir = make_run(tmp_path / "data", n_train=16, epochs=2, state="training")
    summary = build_report(run_dir, tmp_path / "report")
    assert summary["state"] == "training"
    assert "still training" in (tmp_path / "report" / "index.html").read_text()


def test_report__refuses_to_replace_a_report_without_force(run_dir, tmp_path):
    build_report(run_dir, tmp_path / "report")
    (tmp_path / "report" / "summary.json").write_text("{}")
    with pytest.raises(DataError, match="already exists; add --force"):
        build_report(run_dir, tmp_path / "report")
    assert (tmp_path / "report" / "summary.json").read_text() == "{}"
    build_report(run_dir, tmp_path / "report", force=True)
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["epochs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "report"]


def test_cli_report__writes_the_report_and_prints_the_headline(run_dir, tmp_path):
    from typer.testing import CliRunner

    from curator_cli.main import app

    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "suspicion auroc" in result.output and (tmp_path / "report" / "index.html").is_file()
    rule = json.loads((tmp_path / "report" / "summary.json").read_text())["proposal_rule"]
    assert f"proposals ({describe_rule(rule)}) on" in " ".join(result.output.split())
    assert re.search(r"\((lead, last 5 epochs|ratio, every epoch); auto: late rise [+-]\d\.\d{3}\)",
                     " ".join(result.output.split()))
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r2")])
    assert missing.exit_code == 1 and "is not a curator run directory" in missing.output


def test_report__sample_data_trained_with_its_truth_file_shows_the_truth_metrics(tmp_path):
    from typer.testing import CliRunner

    from curator_cli.main import app

    sample_data = Path(__file__).resolve().parents[1] / "sample_data"
    run, out = tmp_path / "run", tmp_path / "report"
    trained = CliRunner().invoke(app, [
        "train", str(sample_data), "--out", str(run), "--truth", str(sample_data / "truth.csv"),
        "--backbone", "compact", "--no-pretrained", "--image-size", "32", "--epochs", "2",
        "--batch-size", "64", "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    truth = json.loads((out / "summary.json").read_text())["truth"]
    labels = pd.read_csv(sample_data / "labels.csv")
    expected = pd.read_csv(sample_data / "truth.csv")
    assert truth["samples_with_truth"] == len(labels)  # held-out samples are scored too
    assert truth["flipped"] == int((labels["label"] != expected["label"]).sum()) == 70
    assert 0.0 <= truth["suspicion_auroc"] <= 1.0
    assert {"net_gain", "expected_net_gain", "proposal_ece"} <= set(truth)
    shown = _page_numbers((out / "index.html").read_text())
    assert shown["truth.flipped"] == "70"
    written = {p.name for p in out.glob("*.png")}
    assert "suspicion_pr_curve.png" in written
    assert ("proposal_reliability.png" in written) == (truth["proposals"] > 0)
