"""Training end to end on tiny data: a record per sample per epoch, resume, crash safety, bad input."""

import pandas as pd
import pytest
import torch

from conftest import colour_folder
from curator import runlog, scores
from curator.config import TrainConfig
from curator.errors import CuratorError, RunError
from curator.train import checkpoint
from curator.train import run as run_module
from curator.train.epoch import Margin
from curator.train.run import resume, train
from curator.train.trainer import param_groups




def tiny_config(data, **changes) -> TrainConfig:
    options = dict(data=str(data), backbone="compact", pretrained=False, image_size=16, epochs=3,
                   batch_size=8, lr=0.05, relabel_epoch=2, margin_2=0.0, device="cpu", seed=0)
    return TrainConfig.from_recipe("paper", **{**options, **changes})


def all_records(run_dir) -> pd.DataFrame:
    return pd.concat([runlog.read_raw_epoch(run_dir, e).assign(epoch=e)
                      for e in runlog.completed_epochs(run_dir)], ignore_index=True)


def test_train__records_every_sample_once_per_epoch(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder), tmp_path / "run")

    records = runlog.read_epochs(run)
    held = runlog.read_manifest(run).table.query("split == 'holdout'")["sample_id"]
    assert len(held) == 3  # round(10%) of each of the 3 classes of 7
    assert len(records) == 18 * 3
    assert not records.duplicated(["epoch", "sample_id"]).any()
    for epoch in (1, 2, 3):
        trained = records.loc[records["epoch"] == epoch, "sample_id"]
        predicted = runlog.read_holdout(run, epoch)
        assert sorted([*trained, *predicted["sample_id"]]) == list(range(21))
        assert predicted["weight"].between(0, 1).all()
        assert predicted[[f"prob_{k}" for k in range(3)]].sum(axis=1).between(0.99, 1.01).all()
    assert records["weight"].between(0, 1).all()
    assert set(records["group"]) == {"high", "low"}
    assert records["prob_given"].between(0, 1).all()
    metrics = runlog.read_metrics(run)
    assert metrics["epoch"].tolist() == [1, 2, 3]
    assert {"weight_mean_high", "weight_mean_low", "collapsed", "relabels"} <= set(metrics)
    assert runlog.read_info(run)["state"] == "finished"
    assert checkpoint.checkpoint_path(run, "best").exists()


def test_train__a_validation_split_calibrates_instead_of_a_holdout(tiny_folder, tmp_path):
    val = colour_folder(tmp_path / "val", 17, seed=1)  # 51 >= MIN_CALIBRATION_SAMPLES
    run = train(tiny_config(tiny_folder, val_data=str(val)), tmp_path / "run")

    splits = runlog.read_manifest(run).table["split"].value_counts().to_dict()
    assert splits == {"train": 21, "val": 51}  # every training sample trains
    metrics = runlog.read_metrics(run)
    for epoch in (1, 2, 3):
        predicted = runlog.read_holdout(run, epoch)
        assert sorted(predicted["sample_id"]) == list(range(21, 72))
        right = (predicted["pred_label"] == predicted["given_label"]).mean()
        assert metrics.loc[epoch - 1, "val_acc"] == pytest.approx(right)
    frame = scores.sample_scores(run)
    assert frame.attrs["calibrated"] is True
    assert frame["sample_id"].tolist() == list(range(21))  # validation rows only calibrate


def test_train__relabels_change_the_training_label_from_relabel_epoch_on(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder, epochs=4, inject_noise=0.3, relabel=True), tmp_path / "run")
    raw = all_records(run)
    first = raw[raw["epoch"] == 1]
    assert (first["current_label"] == first["given_label"]).all()
    applied = raw[(raw["proposed_label"] >= 0) & (raw["epoch"] >= 2) & (raw["epoch"] < 4)]
    assert len(applied), "margin 0 on random init should propose relabels"
    following = raw.set_index(["epoch", "sample_id"])["current_label"]
    for row in applied.itertuples():
        assert following[(row.epoch + 1, row.sample_id)] == row.proposed_label
    epoch_one_proposals = raw[(raw["epoch"] == 1) & (raw["proposed_label"] >= 0)]
    assert not (epoch_one_proposals["high"]).any(), "paper scope: only the low group is relabelled"


def test_train__by_default_records_scn_proposals_without_applying_them(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder, epochs=3, inject_noise=0.3), tmp_path / "run")
    raw = all_records(run)
    assert (raw["proposed_label"] >= 0).any(), "margin 0 on random init should propose relabels"
    assert (raw["current_label"] == raw["given_label"]).all()
    assert runlog.read_metrics(run)["relabels"].eq(0).all()


def test_resume__reproduces_the_uninterrupted_run(tiny_folder, tmp_path):
    whole = train(tiny_config(tiny_folder), tmp_path / "whole")
    part = train(tiny_config(tiny_folder, epochs=2), tmp_path / "part")
    resume(part, {"epochs": 3})

    pd.testing.assert_frame_equal(all_records(part), all_records(whole))
    assert runlog.read_metrics(part)["epoch"].tolist() == [1, 2, 3]


def test_train__the_attention_head_learns_at_its_share_of_the_rate(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder, epochs=2, milestones=(1,), attention_lr_scale=0.1),
                tmp_path / "run")
    state = checkpoint.load_state(run)
    rest, head = state["optimizer"]["param_groups"]
    assert rest["lr"] == pytest.approx(0.05 * 0.1)  # step decay at epoch 1 scales both groups
    assert head["lr"] == pytest.approx(0.05 * 0.1 * 0.1)
    model = checkpoint.load_model(run, "last")[0]
    groups = param_groups(runlog.read_config(run), model, Margin(0.15, learnable=False))
    head_ids = {id(p) for p in groups[1]["params"]}
    assert [name for name, p in model.named_parameters() if id(p) in head_ids] == [
        "alpha.0.weight", "alpha.0.bias"]
    assert len(groups[0]["params"]) + len(head_ids) == len(list(model.parameters()))
    assert (len(rest["params"]), len(head["params"])) == (len(groups[0]["params"]), 2)


def test_train__without_an_attention_rate_of_its_own_keeps_one_parameter_group(tiny_folder,
                                                                                tmp_path):
    run = train(tiny_config(tiny_folder, epochs=1), tmp_path / "run")
    assert len(checkpoint.load_state(run)["optimizer"]["param_groups"]) == 1


def test_resume__with_an_attention_rate_of_its_own_reproduces_the_uninterrupted_run(tiny_folder,
                                                                                     tmp_path):
    whole = train(tiny_config(tiny_folder, attention_lr_scale=0.1), tmp_path / "whole")
    part = train(tiny_config(tiny_folder, epochs=2, attention_lr_scale=0.1), tmp_path / "part")
    resume(part, {"epochs": 3})

    pd.testing.assert_frame_equal(all_records(part), all_records(whole))


@pytest.mark.parametrize("changes, message", [
    (dict(attention_lr_scale=0.0), "--attention-lr-scale must be above 0"),
    (dict(attention_lr_scale=1.5), r"--attention-lr-scale must lie in \[0.0, 1.0\]; got 1.5"),
    (dict(attention_lr_scale=0.1, method="ce"), "--attention-lr-scale applies to --method scn"),
])
def test_config__refuses_a_bad_attention_rate(tiny_folder, changes, message):
    with pytest.raises(CuratorError, match=message):
        tiny_config(tiny_folder, **changes)


def test_resume__after_a_crash_no_epoch_is_missing_or_twice(tiny_folder, tmp_path, monkeypatch):
    whole = train(tiny_config(tiny_folder), tmp_path / "whole")
    real_save = checkpoint.save

    def crash_at_epoch_two(run_dir, which, state):
        if which == "last" and state["epoch"] == 2:
            raise KeyboardInterrupt
        real_save(run_dir, which, state)

    monkeypatch.setattr(checkpoint, "save", crash_at_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tiny_folder), tmp_path / "crashed")
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert runlog.completed_epochs(tmp_path / "crashed") == [1, 2]  # epoch 2 recorded, not saved

    resume(tmp_path / "crashed")
    pd.testing.assert_frame_equal(all_records(tmp_path / "crashed"), all_records(whole))
    assert runlog.read_metrics(tmp_path / "crashed")["epoch"].tolist() == [1, 2, 3]


def test_resume__refuses_another_config(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder, epochs=1), tmp_path / "run")
    with pytest.raises(RunError, match=r"--beta 0.5 \(the run has 0.7\)"):
        resume(run, {"beta": 0.5})


def test_resume__of_a_finished_run_changes_its_proposal_window_without_training(tiny_folder,
                                                                                  tmp_path,
                                                                                  monkeypatch):
    run = train(tiny_config(tiny_folder, epochs=2), tmp_path / "run")
    records = all_records(run)

    def no_trainer(*args, **kwargs):
        raise AssertionError("a finished run needs no trainer (nor its model and weights)")

    monkeypatch.setattr(run_module, "Trainer", no_trainer)
    resume(run, {"proposal_window": 1})

    assert runlog.read_config(run).proposal_window == 1
    pd.testing.assert_frame_equal(all_records(run), records)
    assert runlog.read_metrics(run)["epoch"].tolist() == [1, 2]
    pd.testing.assert_frame_equal(scores.sample_scores(run), scores.sample_scores(run, window=1))


def test_train__refuses_an_existing_run(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder, epochs=1), tmp_path / "run")
    with pytest.raises(RunError, match="already holds a run; add --resume"):
        train(tiny_config(tiny_folder, epochs=1), run)


def test_checkpoint__of_another_shape_is_a_clear_error(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder, epochs=1), tmp_path / "run")
    state = checkpoint.load_state(run, "last")
    state["model"]["fc.weight"] = torch.zeros(5, 256)
    checkpoint.save(run, "last", state)
    with pytest.raises(RunError, match="checkpoint does not fit the model"):
        resume(run, {"epochs": 2})


def test_plain_ce__records_unit_weights_and_no_proposals(tiny_folder, tmp_path):
    run = train(tiny_config(tiny_folder, epochs=1, method="ce"), tmp_path / "run")
    raw = runlog.read_raw_epoch(run, 1)
    assert (raw["weight"] == 1).all() and (raw["proposed_label"] == -1).all()
    assert not runlog.read_metrics(run)["weights_vanished"].any()
