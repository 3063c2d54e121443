"""SCN's importance weights falling to ~0, the absorbing state in which the network stops learning:
the check on an epoch's weights, and training that stops after writing such an epoch."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from curator import runlog
from curator.errors import TrainingError
from curator.train import checkpoint, trainer
from curator.train.epoch import EpochRecords, EpochStats
from curator.train.run import train
from curator.train.summary import VANISHED_WEIGHT, epoch_metrics, weights_vanished
from curator_cli.main import app
from dead_attention import with_dead_attention
from test_train import tiny_config

runner = CliRunner()
TESTS = Path(__file__).resolve().parent


def metrics_of(weight: np.ndarray) -> dict:
    """The metrics row of a hand-made epoch of one batch with these weights."""
    n = len(weight)
    records = EpochRecords.empty(np.zeros(n, np.int16), num_classes=3)
    records.weight[:] = weight
    records.high[: int(0.7 * n)] = True
    return epoch_metrics(1, records, EpochStats(seen=n, batches=1, batch_gaps=[0.0]), lr=0.05,
                         val_accuracy=None, margin_1=0.15, seconds=1.0)


def stop_the_attention(monkeypatch) -> None:
    """Start every model with alpha = sigmoid(~-30) ~ 0 for any image: a saturated head."""
    monkeypatch.setattr(trainer, "build_model", with_dead_attention(trainer.build_model))


def test_weights_vanished__when_nine_in_ten_are_near_zero():
    assert weights_vanished(np.zeros(50))  # as in the GPU run that found the failure
    assert weights_vanished(np.full(50, 1e-4))
    assert weights_vanished(np.r_[np.zeros(95), np.full(5, 0.8)])  # a few carry weight: no use


def test_weights_vanished__not_for_weights_collapsed_at_one_or_plain_ce():
    assert not weights_vanished(np.full(50, 0.999))
    assert not weights_vanished(np.ones(50))


def test_weights_vanished__not_for_a_healthy_spread():
    healthy = np.random.default_rng(0).uniform(0.2, 0.9, 100)
    assert not weights_vanished(healthy)
    assert not weights_vanished(np.r_[np.zeros(80), np.full(20, 0.6)])  # 20% still learn


def test_weights_vanished__boundary_is_exclusive():
    assert not weights_vanished(np.full(10, VANISHED_WEIGHT))
    assert weights_vanished(np.full(10, np.nextafter(VANISHED_WEIGHT, 0)))


def test_epoch_metrics__collapse_at_one_and_vanished_weights_are_told_apart():
    at_one = metrics_of(np.full(20, 0.999))
    assert at_one["collapsed"] and not at_one["weights_vanished"]
    at_zero = metrics_of(np.full(20, 1e-6))
    assert at_zero["weights_vanished"]
    healthy = metrics_of(np.linspace(0.2, 0.9, 20))
    assert not healthy["collapsed"] and not healthy["weights_vanished"]


def test_train__stops_after_writing_the_epoch_whose_weights_vanished(tiny_folder, tmp_path,
                                                                      monkeypatch):
    stop_the_attention(monkeypatch)
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as stop:
        train(tiny_config(tiny_folder, epochs=2), run)

    message = str(stop.value)
    assert message.startswith(f"{run}: epoch 1: SCN's importance weights fell to ~0")
    assert "lower --lr (this run: 0.05)" in message and "\n" not in message
    assert runlog.completed_epochs(run) == [1]  # epoch 2 never started
    assert runlog.read_raw_epoch(run, 1)["weight"].max() < VANISHED_WEIGHT
    metrics = runlog.read_metrics(run)
    assert metrics["epoch"].tolist() == [1] and metrics["weights_vanished"].tolist() == [True]
    assert checkpoint.load_state(run, "last")["epoch"] == 1
    info = runlog.read_info(run)
    assert info["epochs_done"] == 1 and info["state"] == "training"


def test_cli_train__vanished_weights_are_one_error_line_also_on_resume(tiny_folder, tmp_path,
                                                                       monkeypatch):
    stop_the_attention(monkeypatch)
    run = tmp_path / "run"
    options = ["--backbone", "compact", "--no-pretrained", "--image-size", "16", "--epochs", "3",
               "--batch-size", "8", "--lr", "0.05", "--device", "cpu"]
    for command, epoch in ((["train", str(tiny_folder), "--out", str(run), *options], 1),
                           (["train", "--out", str(run), "--resume"], 2)):
        result = runner.invoke(app, command)

        assert result.exit_code == 1, result.output
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"error: {run}: epoch {epoch}: ")
        assert "fell to ~0" in result.stderr and "Traceback" not in result.output
        assert "warning:" not in result.output  # the error replaces the collapse warning
        assert f"epoch {epoch:>3}  loss" in result.stdout  # the epoch's line came first
    assert runlog.read_metrics(run)["weights_vanished"].tolist() == [True, True]


@pytest.mark.slow
def test_nproc_2__every_process_stops_after_process_0_wrote_the_epoch(tiny_folder, tmp_path):
    # every process (launcher, and each one torchrun starts) imports this at start-up
    (tmp_path / "sitecustomize.py").write_text("import dead_attention\ndead_attention.install()\n")
    run = tmp_path / "run"
    path = os.pathsep.join([str(tmp_path), str(TESTS)])
    done = subprocess.run(
        [sys.executable, "-m", "curator_cli.main", "train", str(tiny_folder), "--out", str(run),
         "--backbone", "compact", "--no-pretrained", "--image-size", "16", "--epochs", "3",
         "--batch-size", "8", "--lr", "0.05", "--device", "cpu", "--nproc", "2"],
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path},
        capture_output=True, text=True, timeout=600)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count(f"error: {run}: epoch 1: SCN's importance weights fell") == 2  # each
    launcher = done.stderr.strip().splitlines()[-1]
    assert launcher.startswith("error: --nproc 2: training process")
    assert "resuming cannot help" in launcher and "--resume" not in launcher
    assert runlog.completed_epochs(run) == [1]
    assert runlog.read_info(run)["epochs_done"] == 1
    assert runlog.read_metrics(run)["weights_vanished"].tolist() == [True]
