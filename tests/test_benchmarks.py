"""The benchmark harness on tiny data: detection results in range, cached runs rescored, data splits
and noise as documented, and the speed/size scripts still run. No timing is asserted."""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the benchmarks are scripts that import their siblings

import correction_bound  # noqa: E402
import dlib_parity  # noqa: E402
import detect_methods  # noqa: E402
import data_throughput  # noqa: E402
import detect_report  # noqa: E402
import detect  # noqa: E402
import run_size  # noqa: E402
import step_time  # noqa: E402
from detect_data import load_base, make_replicate  # noqa: E402
from curator import runlog  # noqa: E402
from curator.errors import TrainingError  # noqa: E402

CLASSES = ("happy", "sad", "angry")
SMOKE = ["digits", "--limit", "60", "--noise", "0.3", "--seeds", "0", "--epochs", "1",
         "--image-size", "16", "--batch-size", "16", "--folds", "2"]


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory):
    """One detect.py run on 60 digits, one epoch, every method; its --out folder."""
    out = tmp_path_factory.mktemp("detect")
    detect.main([*SMOKE, "--out", str(out)])
    return out


@pytest.fixture
def labelled_csv(tmp_path):
    """Six 16 px images per class and a CSV filepath,given,true with two wrong given labels."""
    rows = []
    for c, name in enumerate(CLASSES):
        for i in range(6):
            path = tmp_path / "images" / f"{name}{i}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(np.full((16, 16), 40 * c + i, np.uint8)).save(path)
            given = CLASSES[(c + 1) % 3] if i == 0 and c < 2 else name
            rows.append((f"images/{path.name}", given, name))
    csv = tmp_path / "labels.csv"
    pd.DataFrame(rows, columns=["filepath", "given", "true"]).to_csv(csv, index=False)
    return csv


@pytest.mark.slow
def test_detect__writes_one_row_per_method_with_metrics_in_range(smoke_out):
    results = pd.read_csv(smoke_out / "results.csv")

    assert sorted(results["method"]) == ["aum", "ce", "cleanlab", "curator", "curator-on-ce"]
    assert (results["noise_level"] == 0.3).all() and (results["seed"] == 0).all()
    # 6 digits per class: 1 held out, 30% of the other 5 (rounded: 2) flipped
    assert (results["train_samples"] == 50).all()
    assert (results["wrong_labels"] == 20).all()
    for column in ("auroc", "precision_at_k", "flag_recall", "corrected", "clean_changed_share"):
        assert results[column].between(0, 1).all(), column
    assert (results["clean_changed"] >= 0).all()
    trained = results[results["method"] != "cleanlab"]
    assert trained["test_accuracy"].between(0, 1).all()
    assert results.loc[results["method"] == "cleanlab", "test_accuracy"].isna().all()
    assert (results["wall_seconds"] > 0).all()
    summary = (smoke_out / "summary.md").read_text()
    assert "| noise | method | AUROC | P@k |" in summary
    assert "noise 0.3: goal" in summary


@pytest.mark.slow
def test_detect__rescore_reuses_the_cached_runs(smoke_out, capsys):
    before = pd.read_csv(smoke_out / "results.csv")

    detect.main([*SMOKE, "--out", str(smoke_out), "--rescore"])

    assert "training" not in capsys.readouterr().out
    after = pd.read_csv(smoke_out / "results.csv")
    columns = ["method", "auroc", "precision_at_k", "corrected", "clean_changed", "train_seconds"]
    pd.testing.assert_frame_equal(before[columns], after[columns])


def test_detect__scoring_options_score_both_curator_methods_and_keep_the_cache_key(tmp_path):
    data = tmp_path / "train.csv"
    budget = detect.budget_from(detect.parse_args(
        ["digits", "--scn-option", 'proposal_rule="ratio"', "--scn-option", "proposal_window=0"]))
    scn, ce = (budget.config(data, method=m, seed=0) for m in ("scn", "ce"))
    assert (scn.proposal_rule, scn.proposal_window) == (ce.proposal_rule, ce.proposal_window) == (
        "ratio", 0)
    plain = detect.budget_from(detect.parse_args(["digits"])).config(data, method="scn", seed=0)
    assert scn.training_dict() == plain.training_dict()  # the cached runs are re-scored, not retrained


def test_detect__budget_starts_from_scratch_unless_pretrained_is_asked(tmp_path):
    data = tmp_path / "train.csv"
    scratch = detect.budget_from(detect.parse_args(["digits"])).config(data, method="scn", seed=0)
    onet = detect.budget_from(detect.parse_args(["digits", "--backbone", "mtcnn_onet", "--pretrained",
                                                 "--image-size", "48"])).config(data, method="ce", seed=0)
    assert not scratch.pretrained
    assert (onet.backbone, onet.pretrained, onet.image_size) == ("mtcnn_onet", True, 48)
    weights = detect.budget_from(detect.parse_args(["digits", "--weights", "w.json"]))
    assert {weights.config(data, method=m, seed=0).weights for m in ("scn", "ce")} == {"w.json"}


def test_detect__rescore_without_trained_runs_says_how_to_train(tmp_path):
    with pytest.raises(SystemExit, match="run once without --rescore"):
        detect.main([*SMOKE, "--out", str(tmp_path), "--rescore"])


def test_make_replicate__synthetic_noise_flips_only_training_labels(labelled_csv, tmp_path):
    base = load_base(str(labelled_csv), tmp_path / "cache", label_column="true")

    replicate = make_replicate(base, tmp_path / "data", noise=0.4, seed=3, test_share=0.2)

    train = pd.read_csv(replicate.train_csv)
    test = pd.read_csv(replicate.test_csv)
    assert replicate.noise_level == "0.4"
    assert test["label"].value_counts().to_dict() == {name: 1 for name in CLASSES}
    assert not set(train["filepath"]) & set(test["filepath"])
    assert len(train) + len(test) == 18
    truth = dict(zip(pd.read_csv(labelled_csv)["filepath"].map(lambda p: p.split("/")[-1]),
                     pd.read_csv(labelled_csv)["true"]))
    assert (test["filepath"].map(lambda p: truth[Path(p).name]) == test["label"]).all()
    assert (train["filepath"].map(lambda p: truth[Path(p).name]) == train["truth"]).all()
    flipped = train[train["label"] != train["truth"]]
    assert flipped.groupby("truth").size().to_dict() == {name: 2 for name in CLASSES}  # 40% of 5
    half = make_replicate(base, tmp_path / "data", noise=0.4, seed=3, test_share=0.5)
    test, val = pd.read_csv(half.test_csv), pd.read_csv(half.val_csv)
    assert val["filepath"].tolist() == test["filepath"].tolist()  # the test images, flipped
    flipped = test[val["label"] != test["label"]]  # like the training labels: 40% of 3 per class
    assert flipped.groupby("label").size().to_dict() == {name: 1 for name in CLASSES}


def test_make_replicate__is_written_once_and_reused(labelled_csv, tmp_path):
    base = load_base(str(labelled_csv), tmp_path / "cache", label_column="true")
    first = make_replicate(base, tmp_path / "data", noise=0.4, seed=3, test_share=0.2)
    written = first.train_csv.stat().st_mtime_ns

    again = make_replicate(base, tmp_path / "data", noise=0.4, seed=3, test_share=0.2)
    other_seed = make_replicate(base, tmp_path / "data", noise=0.4, seed=4, test_share=0.2)

    assert again == first and first.train_csv.stat().st_mtime_ns == written
    assert other_seed.train_csv != first.train_csv


def test_make_replicate__real_noise_trains_on_given_and_tests_on_truth(labelled_csv, tmp_path):
    base = load_base(str(labelled_csv), tmp_path / "cache", label_column="given",
                     truth_column="true")

    replicate = make_replicate(base, tmp_path / "data", noise=None, seed=0, test_share=0.2)

    train = pd.read_csv(replicate.train_csv)
    test = pd.read_csv(replicate.test_csv)
    source = pd.read_csv(labelled_csv)
    source["name"] = source["filepath"].map(lambda p: Path(p).name)
    given = dict(zip(source["name"], source["given"]))
    true = dict(zip(source["name"], source["true"]))
    assert replicate.noise_level == "real"
    assert (train["filepath"].map(lambda p: given[Path(p).name]) == train["label"]).all()
    assert (train["filepath"].map(lambda p: true[Path(p).name]) == train["truth"]).all()
    assert (test["filepath"].map(lambda p: true[Path(p).name]) == test["label"]).all()
    val = pd.read_csv(replicate.val_csv)  # the test images with their given labels
    assert val["filepath"].tolist() == test["filepath"].tolist()
    assert (val["filepath"].map(lambda p: given[Path(p).name]) == val["label"]).all()


def test_run_size__reports_the_size_per_reference_run(capsys):
    run_size.main(["--samples", "500", "--epochs", "2", "--backbone", "compact"])

    assert "per 100,000 samples x 40 epochs" in capsys.readouterr().out


def test_step_time__prints_the_scn_over_ce_ratio(capsys):
    step_time.main(["--rounds", "2", "--steps", "1", "--batch-size", "4", "--image-size", "16"])

    assert "SCN / CE time per step:" in capsys.readouterr().out


def test_data_throughput__compares_worker_counts(capsys):
    data_throughput.main(["--images", "8", "--rounds", "1", "--image-size", "16",
                          "--batch-size", "4"])

    assert "workers 2 / workers 0:" in capsys.readouterr().out


def test_correction_bound__one_row_per_run_with_shares_in_range(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic_run import make_run

    run_dir = make_run(tmp_path, n_train=40, epochs=6, noise=0.25)
    correction_bound.main([str(run_dir)])
    row = capsys.readouterr().out.strip().splitlines()[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == [run_dir.name, "6", "10"]
    for cell in cells[3:]:
        share = float(cell.split()[0])
        assert 0.0 <= share <= 1.0
    # at most 2% of 30 right labels: no right label may change
    assert all(cell.endswith("(0)") for cell in cells[4:7])


def test_correction_bound__ranks_by_the_run_s_proposal_rule_unless_told(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic_run import make_run

    def row(*options: str) -> str:
        correction_bound.main([str(run_dir), "--max-clean-share", "0.1", *options])
        return capsys.readouterr().out.strip().splitlines()[-1]

    run_dir = make_run(tmp_path, n_train=120, n_holdout=80, epochs=6, noise=0.3)
    lead, ratio = row(), row("--rule", "ratio")
    assert lead == row("--rule", "lead") and ratio != lead
    config = runlog.read_config(run_dir)
    dataclasses.replace(config, proposal_rule="ratio").save(run_dir / runlog.CONFIG)
    assert row() == ratio


def _summary_row(method: str, auroc: float) -> dict:
    return {"noise_level": 0.2, "method": method, "auroc_mean": auroc, "precision_at_k_mean": auroc,
            "corrected_mean": 0.6, "clean_changed_share_mean": 0.01, "seeds": 3, "failed": 0}


def test_goal_check__compares_with_each_baseline_and_never_passes_without_one():
    beaten = pd.DataFrame([_summary_row("curator", 0.9), _summary_row("ce", 0.8),
                           _summary_row("cleanlab", 0.85)])
    assert detect_report.goal_check(beaten)[0].startswith(
        "noise 0.2: goal met: auroc 0.9000 vs ce 0.8000, cleanlab 0.8500;")
    behind = beaten.assign(auroc_mean=[0.9, 0.8, 0.95])
    assert detect_report.goal_check(behind)[0].startswith("noise 0.2: goal NOT met (auroc):")
    alone = beaten[beaten["method"] == "curator"]
    assert detect_report.goal_check(alone)[0].startswith(
        "noise 0.2: goal not checked (no ce or cleanlab run to compare): auroc 0.9000;")


def test_goal_check__a_failed_curator_training_fails_the_goal():
    summary = pd.DataFrame([_summary_row("curator", 0.9), _summary_row("ce", 0.8),
                            _summary_row("cleanlab", 0.85)])
    summary.loc[0, "failed"] = 1
    assert detect_report.goal_check(summary)[0].startswith(
        "noise 0.2: goal NOT met (training failed): training failed in 1 of 3 seeds;")


@pytest.mark.slow
def test_detect__a_training_error_is_a_failed_row_also_when_rescored(tmp_path, monkeypatch, capsys):
    real_train = detect_methods.train

    def scn_fails(config, run_dir):
        if config.method == "scn":
            raise TrainingError(f"{run_dir}: epoch 1: SCN's importance weights fell to ~0")
        return real_train(config, run_dir)

    monkeypatch.setattr(detect_methods, "train", scn_fails)
    detect.main([*SMOKE, "--methods", "curator", "ce", "--out", str(tmp_path)])

    assert "curator failed: " in capsys.readouterr().out
    results = pd.read_csv(tmp_path / "results.csv").set_index("method")
    assert results.loc["curator", "failed"] and not results.loc["ce", "failed"]
    assert np.isnan(results.loc["curator", "auroc"]) and 0 <= results.loc["ce", "auroc"] <= 1
    summary = (tmp_path / "summary.md").read_text()
    assert "| 1 (1 failed) |" in summary
    assert "goal NOT met (training failed" in summary
    monkeypatch.setattr(detect_methods, "train", real_train)  # the failure is cached, not retried
    detect.main([*SMOKE, "--methods", "curator", "ce", "--out", str(tmp_path), "--rescore"])
    assert pd.read_csv(tmp_path / "results.csv").set_index("method").loc["curator", "failed"]


def test_dlib_parity__curator_side_gives_a_128d_descriptor(tmp_path, capsys):
    from test_dlib_resnet import faceapi_manifest

    manifest, _ = faceapi_manifest(tmp_path)
    image = np.random.default_rng(0).random((150, 150, 3)).astype(np.float32) * 255
    descriptor = dlib_parity.curator_descriptor(manifest, image)
    assert descriptor.shape == (128,) and np.isfinite(descriptor).all()
    assert "loaded 116/116 tensors" in capsys.readouterr().out
