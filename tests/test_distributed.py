"""Distributed training on CPU (gloo): how batches are shared out, and real 2-process runs of
`curator train --nproc 2` and of torchrun, including one whose process 1 is killed mid-epoch."""

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from curator import runlog
from curator.config import TrainConfig
from curator.data.dataset import EpochBatches
from curator.errors import RunError
from curator.train.distributed import check_shares
from curator.train.run import train

OPTIONS = dict(backbone="compact", pretrained=False, image_size=16, epochs=2, batch_size=8,
               lr=0.05, relabel=True, relabel_epoch=1, margin_2=0.0, device="cpu", seed=0)
# Process 1 kills itself (SIGKILL, no clean-up) in its first step of epoch 2; by then process 0
# has written epoch 1, since it only starts epoch 2 after its checkpoint.
KILLED_IN_EPOCH_TWO = '''
import json, os, signal, sys
from pathlib import Path
from curator.train.epoch import Learner
from curator_cli.main import app

run_info = Path(sys.argv[sys.argv.index("--out") + 1]) / "run.json"
real_step = Learner.step

def step_then_die(self, loss):
    real_step(self, loss)
    if os.environ["RANK"] == "1" and json.loads(run_info.read_text())["epochs_done"] == 1:
        os.kill(os.getpid(), signal.SIGKILL)

Learner.step = step_then_die
app(prog_name="curator")
'''


def shares(size, batch_size, world, seed=0):
    return [list(EpochBatches(size, batch_size, torch.Generator().manual_seed(seed), rank=rank,
                              world=world)) for rank in range(world)]


@pytest.mark.parametrize("size,batch_size,world", [(21, 8, 2), (17, 8, 2), (100, 16, 3),
                                                    (33, 4, 2), (9, 8, 4)])
def test_epoch_batches__processes_share_every_sample_exactly_once(size, batch_size, world):
    per_rank = shares(size, batch_size, world)

    seen = [i for batches in per_rank for batch in batches for i in batch]
    assert sorted(seen) == list(range(size))
    assert len({len(batches) for batches in per_rank}) == 1, "DDP needs equal step counts"
    assert min(len(batch) for batches in per_rank for batch in batches) >= 2


def test_epoch_batches__a_trailing_single_sample_joins_the_last_batch():
    (batches,) = shares(17, 8, 1)
    assert [len(b) for b in batches] == [8, 9]
    assert sorted(i for b in batches for i in b) == list(range(17))
    assert len(EpochBatches(17, 8, torch.Generator())) == 2


def test_epoch_batches__every_process_splits_the_same_global_batches():
    (single,) = shares(40, 8, 1)
    per_rank = shares(40, 8, 2)
    assert [a + b for a, b in zip(*per_rank)] == single


def test_check_shares__refuses_steps_of_fewer_than_two_samples():
    check_shares(8, 21, 4)
    with pytest.raises(RunError, match="--batch-size 6 .* 4 processes.* --batch-size 8 or more"):
        check_shares(6, 21, 4)


# ---------------------------------------------------------------- real processes

def cli_options() -> list[str]:
    flags = {"pretrained": "--no-pretrained", "relabel": "--relabel"}
    return [part for key, value in OPTIONS.items()
            for part in ([flags[key]] if key in flags else [f"--{key.replace('_', '-')}", str(value)])]


def run_processes(*command: str) -> subprocess.CompletedProcess:
    """Run a Python command line with one thread per process (2 cores for 2 processes)."""
    return subprocess.run([sys.executable, *command], env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600)


def raw_records(run_dir) -> pd.DataFrame:
    return pd.concat([runlog.read_raw_epoch(run_dir, e).assign(epoch=e)
                      for e in runlog.completed_epochs(run_dir)], ignore_index=True)


@pytest.fixture(scope="module")
def two_process_run(tiny_folder, tmp_path_factory):
    run = tmp_path_factory.mktemp("two") / "run"
    done = run_processes("-m", "curator_cli.main", "train", str(tiny_folder), "--out", str(run),
                         *cli_options(), "--nproc", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    return run


@pytest.mark.slow
def test_nproc_2__records_every_sample_once_per_epoch_like_one_process(two_process_run,
                                                                        tiny_folder, tmp_path):
    single = train(TrainConfig.from_recipe("paper", data=str(tiny_folder), **OPTIONS),
                   tmp_path / "single")

    records = raw_records(two_process_run)
    for epoch in (1, 2):
        held = runlog.read_holdout(two_process_run, epoch)  # each process predicts a share
        trained = records.loc[records["epoch"] == epoch, "sample_id"]
        assert sorted([*trained, *held["sample_id"]]) == list(range(21))
        assert held["sample_id"].tolist() == runlog.read_holdout(single, epoch)["sample_id"].tolist()
    assert records["weight"].between(0, 1).all() and set(records["high"]) == {True, False}
    assert runlog.read_info(two_process_run)["classes"] == runlog.read_info(single)["classes"]
    assert runlog.read_info(two_process_run)["state"] == "finished"
    assert runlog.read_config(two_process_run) == runlog.read_config(single)
    assert runlog.read_metrics(two_process_run)["epoch"].tolist() == [1, 2]


@pytest.mark.slow
def test_nproc_2__relabels_of_either_process_reach_the_shared_label_table(two_process_run):
    records = raw_records(two_process_run).set_index(["epoch", "sample_id"])
    first, second = records.loc[1], records.loc[2]
    assert (first["current_label"] == first["given_label"]).all()
    proposed = first["proposed_label"] >= 0
    assert proposed.any(), "margin 0 on random init should propose relabels"
    assert not first.loc[proposed, "high"].any(), "paper scope: only the low group is relabelled"
    expected = first["current_label"].where(~proposed, first["proposed_label"])
    pd.testing.assert_series_equal(second["current_label"], expected)
    assert runlog.read_metrics(two_process_run)["relabels"].iloc[0] == proposed.sum()


@pytest.mark.slow
def test_torchrun__a_killed_process_leaves_a_run_that_resumes_to_the_same_records(
        two_process_run, tiny_folder, tmp_path):
    script = tmp_path / "killed_in_epoch_two.py"
    script.write_text(KILLED_IN_EPOCH_TWO)
    run = tmp_path / "run"

    crashed = run_processes("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                            str(script), "train", str(tiny_folder), "--out", str(run), *cli_options())
    assert crashed.returncode != 0
    assert "SIGKILL" in crashed.stderr
    assert runlog.completed_epochs(run) == [1]
    assert runlog.read_info(run)["state"] == "training"

    resumed = run_processes("-m", "curator_cli.main", "train", "--out", str(run), "--resume",
                            "--nproc", "2")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming after epoch 1" in resumed.stdout
    pd.testing.assert_frame_equal(raw_records(run), raw_records(two_process_run))
    assert runlog.read_metrics(run)["epoch"].tolist() == [1, 2]
    assert runlog.read_info(run)["state"] == "finished"
