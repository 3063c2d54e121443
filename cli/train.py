"""`curator train`: options map 1:1 onto TrainConfig; the recipe fills whatever is not given.

`--nproc N` starts N copies of this command under torchrun (same options, minus --nproc).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from curator.config import PROPOSAL_LINES
from curator_cli.common import plain_console, user_errors

Opt = typer.Option
# CLI parameter -> TrainConfig field, where the names differ.
PARAM_OF = {"val": "val_data"}


def train(
    ctx: typer.Context,
    out: Annotated[Path, Opt("--out", "-o", help="Run directory to create (or continue with --resume).")],
    data: Annotated[Optional[Path], typer.Argument(help="Folder, CSV or data set root (RAF-DB, FER2013, FERPlus, AffectNet); not needed with --resume.")] = None,
    resume: Annotated[bool, Opt("--resume", help="Continue the run in --out from its last epoch.")] = False,
    data_format: Annotated[str, Opt("--format", help="auto|folder|csv|rafdb|fer2013|ferplus|affectnet")] = "auto",
    label_column: Annotated[str, Opt(help="CSV column holding the labels to train on.")] = "label",
    val: Annotated[Optional[str], Opt("--val", help="Labelled validation data (any format).")] = None,
    skip_bad: Annotated[bool, Opt("--skip-bad", help="Skip unreadable images (listed in the run).")] = False,
    inject_noise: Annotated[float, Opt(help="Flip this share of each class's labels (paper protocol).")] = 0.0,
    holdout: Annotated[Optional[float], Opt(help="Share of each class kept out of training to calibrate proposal confidence. Default: none when the validation data has 50+ samples (they calibrate), else 0.1.")] = None,
    truth: Annotated[Optional[str], Opt(help="CSV filepath,label of known clean labels (evaluation only).")] = None,
    truth_column: Annotated[Optional[str], Opt(help="Column of the data CSV with the clean label.")] = None,
    votes_column: Annotated[Optional[str], Opt(help="Column of the data CSV with annotator votes.")] = None,
    image_size: Annotated[int, Opt(help="Side of the square network input, pixels.")] = 224,
    method: Annotated[str, Opt(help="scn, or ce for a plain cross-entropy baseline.")] = "scn",
    backbone: Annotated[str, Opt(help="resnet18 | inception_resnet_v1 | mtcnn_onet (48 px, face weights offline) | compact")] = "resnet18",
    pretrained: Annotated[bool, Opt("--pretrained/--no-pretrained", help="Start from published weights.")] = True,
    weights: Annotated[Optional[str], Opt(help="Local backbone state dict (e.g. MS-Celeb-1M ResNet-18).")] = None,
    drop_rate: Annotated[float, Opt(help="Dropout before the heads.")] = 0.0,
    beta: Annotated[float, Opt(help="Share of each batch in the high-importance group.")] = 0.7,
    margin_1: Annotated[Optional[float], Opt(help="RR margin delta_1 (default: 0.15 with --recipe paper, 0.07 with authors-code).")] = None,
    learn_margin: Annotated[bool, Opt(help="Learn delta_1 instead of fixing it.")] = False,
    gamma: Annotated[float, Opt(help="Loss mix gamma*RR + (1-gamma)*WCE.")] = 0.5,
    margin_2: Annotated[float, Opt(help="Relabel margin delta_2.")] = 0.2,
    relabel_epoch: Annotated[int, Opt(help="First epoch whose relabels are applied.")] = 10,
    relabel_scope: Annotated[Optional[str], Opt(help="low (paper) or batch (authors' code).")] = None,
    relabel: Annotated[bool, Opt("--relabel/--no-relabel", help="Apply SCN's relabels during training (recorded either way; off by default, see docs/BENCHMARKS.md).")] = False,
    proposal_window: Annotated[int, Opt(help="Proposals from each sample's mean probabilities over its last N epochs trained on its given label; 0 = every epoch (with --proposal-rule auto: the lead's window; auto's ratio reads every epoch). Scoring only: --resume may change it.")] = 5,
    proposal_rule: Annotated[str, Opt(help=f"auto: ratio where the run began to memorise its most suspicious labels late in training, else lead (README) | lead: propose where the best other class's mean probability beats the given label's by more than {PROPOSAL_LINES['lead']} | ratio: where it is more than {PROPOSAL_LINES['ratio']} times the given label's. Scoring only: --resume may change it.")] = "auto",
    recipe: Annotated[str, Opt(help="paper (SGD, steps at 15/30, 40 epochs) | authors-code (Adam, exp 0.9).")] = "paper",
    optimizer: Annotated[Optional[str], Opt(help="sgd | adam (default: from --recipe)")] = None,
    lr: Annotated[Optional[float], Opt(help="Learning rate (default: from --recipe). SCN's classifier starts with about a quarter of plain CE's gradient: from a pretrained backbone give it a larger rate than --method ce (README).")] = None,
    attention_lr_scale: Annotated[float, Opt(help="The attention head's learning rate as a share of --lr (0 < x <= 1). Below 1 it keeps SCN's weights from vanishing at a high --lr (docs/BENCHMARKS.md).")] = 1.0,
    momentum: Annotated[Optional[float], Opt(help="SGD momentum (default: from --recipe).")] = None,
    weight_decay: Annotated[Optional[float], Opt(help="Weight decay (default: from --recipe).")] = None,
    schedule: Annotated[Optional[str], Opt(help="step | exponential (default: from --recipe).")] = None,
    milestones: Annotated[Optional[str], Opt(help="Comma-separated epochs for step decay (default: from --recipe).")] = None,
    lr_decay: Annotated[Optional[float], Opt(help="LR factor per milestone / per epoch (default: from --recipe).")] = None,
    epochs: Annotated[Optional[int], Opt(help="Number of epochs (default: from --recipe).")] = None,
    batch_size: Annotated[Optional[int], Opt(help="Mini-batch size (default: from --recipe).")] = None,
    device: Annotated[str, Opt(help="auto | cpu | cuda")] = "auto",
    amp: Annotated[bool, Opt("--amp/--no-amp", help="Mixed precision on CUDA.")] = True,
    workers: Annotated[int, Opt(help="Data-loading worker processes.")] = 0,
    seed: Annotated[int, Opt(help="Random seed (CPU runs are deterministic).")] = 0,
    nproc: Annotated[int, Opt(help="Training processes to start on this machine, e.g. one per GPU (torchrun; see docs/DISTRIBUTED.md).")] = 1,
) -> None:
    """Train SCN on labelled faces and record every sample's weight, prediction and relabel per epoch."""
    from curator.config import TrainConfig
    from curator.errors import CuratorError
    from curator.progress import RichReporter
    from curator.train.distributed import is_main_process, launch
    from curator.train.run import resume as resume_training
    from curator.train.run import train as start_training

    options = dict(
        data=str(data) if data else None, data_format=data_format, label_column=label_column,
        val_data=val, skip_bad=skip_bad, inject_noise=inject_noise, holdout=holdout, truth=truth,
        truth_column=truth_column, votes_column=votes_column, image_size=image_size, method=method,
        backbone=backbone, pretrained=pretrained, weights=weights, drop_rate=drop_rate, beta=beta,
        margin_1=margin_1, learn_margin=learn_margin, gamma=gamma, margin_2=margin_2,
        relabel_epoch=relabel_epoch, relabel_scope=relabel_scope, relabel=relabel,
        proposal_window=proposal_window, proposal_rule=proposal_rule,
        optimizer=optimizer, lr=lr, attention_lr_scale=attention_lr_scale, momentum=momentum,
        weight_decay=weight_decay, schedule=schedule, milestones=milestones, lr_decay=lr_decay,
        epochs=epochs, batch_size=batch_size, device=device, amp=amp, workers=workers, seed=seed,
        recipe=recipe)
    with user_errors():
        options["milestones"] = _milestones(milestones)
        if resume:
            given = {PARAM_OF.get(k, k) for k in _given_names(ctx)}
            config = {k: v for k, v in options.items() if k in given}
        elif data is None:
            raise CuratorError("give the DATA to train on (or --resume an existing run)")
        else:
            config = TrainConfig.from_recipe(**options)
        if nproc != 1:  # process 0 of the launched ones reports
            launch(nproc, ["-m", "curator_cli.main", "train", *_given_arguments(ctx)], out)
            return
        reporter = RichReporter(plain_console())
        if resume:
            run_dir = resume_training(out, config, reporter=reporter)
        else:
            run_dir = start_training(config, out, reporter=reporter)
        if is_main_process():
            reporter.note(f"run written to {run_dir}; next: `curator review {run_dir}` or "
                          f"`curator export {run_dir} --out cleaned.csv`")


def _given_names(ctx: typer.Context) -> set[str]:
    """Names of the parameters given on the command line (not left at their defaults)."""
    return {name for name in ctx.params
            if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"}


def _given_arguments(ctx: typer.Context) -> list[str]:
    """The arguments given on this command line, less --nproc: what each launched process gets."""
    given, names = [], _given_names(ctx) - {"nproc"}
    for param in ctx.command.params:
        if param.name not in names:
            continue
        value = ctx.params[param.name]
        if param.param_type_name == "argument":
            given.append(str(value))
        elif param.is_flag:
            given.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            given += [param.opts[0], str(value)]
    return given


def _milestones(text: str | None) -> tuple[int, ...] | None:
    from curator.errors import CuratorError

    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise CuratorError(f"--milestones {text!r}: give comma-separated epoch numbers, e.g. 15,30") from None
