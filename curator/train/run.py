"""`curator train`: start or resume a run in a run directory, in one process or under torchrun.

Rank 0 alone creates or reopens the run directory (checks, import, config) and hands the config
and manifest to the other processes; the epoch loop is curator.train.trainer.Trainer.
"""

from __future__ import annotations

from pathlib import Path

from curator import runlog
from curator.config import SCORING_OPTIONS, TrainConfig
from curator.data.manifest import Manifest
from curator.errors import RunError
from curator.scn.model import build_model
from curator.train.distributed import check_shares, joined
from curator.train.trainer import Reporter, SilentReporter, Trainer

# Options that may change when a run is resumed (they do not change what is computed on CPU;
# the scoring options change only how review and export read the records).
RESUMABLE_CHANGES = ("epochs", "device", "workers", *SCORING_OPTIONS)


def train(config: TrainConfig, run_dir: Path, *, reporter: Reporter | None = None) -> Path:
    """Start a new run in `run_dir` (new or empty) and train it to `config.epochs`."""
    run_dir = Path(run_dir)
    with joined() as group:
        main_config, manifest, notes = group.on_main(lambda: _create(config, run_dir, group.world))
        different = config.differences(main_config, ignore=("data",))
        if different:
            raise RunError(f"process {group.rank} was started with other options than process 0 "
                           f"({', '.join(sorted(different))}); start every node with the same command")
        reporter = reporter if reporter and group.is_main else SilentReporter()
        for line in notes:
            reporter.note(line)
        Trainer(config, run_dir, manifest, reporter, group).fit(resume=False)
    return run_dir


def resume(run_dir: Path, overrides: dict | None = None, *, reporter: Reporter | None = None) -> Path:
    """Continue a run from its last checkpoint; `overrides` may only change RESUMABLE_CHANGES
    (e.g. more epochs); any other option that differs from config.json is refused."""
    run_dir = Path(run_dir)
    with joined() as group:
        config, manifest, trained = group.on_main(
            lambda: _reopen(run_dir, overrides or {}, group.world))
        reporter = reporter if reporter and group.is_main else SilentReporter()
        if trained:  # only the saved config changed (e.g. a scoring option): no model to build
            reporter.note(f"all {config.epochs} epochs are trained; saved the new options")
        else:
            Trainer(config, run_dir, manifest, reporter, group).fit(resume=True)
    return run_dir


def _create(config: TrainConfig, run_dir: Path, world: int) -> tuple[TrainConfig, Manifest, list[str]]:
    from curator.data.training_set import load_training_set

    if (run_dir / runlog.CONFIG).exists():
        raise RunError(f"--out {run_dir} already holds a run; add --resume to continue it, or "
                       "choose another --out")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"--out {run_dir} is a non-empty folder; choose a new or empty folder")
    manifest, notes, bad = load_training_set(config)
    # unavailable starting weights fail here, before the run directory is written, so the same
    # command with --weights or --no-pretrained can follow
    build_model(config, num_classes=1)
    check_shares(config.batch_size, int((manifest.table["split"] == "train").sum()), world)
    if len(bad):
        run_dir.mkdir(parents=True, exist_ok=True)
        runlog.atomic_write(run_dir / runlog.BAD_IMAGES, lambda tmp: bad.to_csv(tmp, index=False))
        notes.append(f"skipped {len(bad)} unreadable image(s), listed in {run_dir}/{runlog.BAD_IMAGES}")
    runlog.create(run_dir, config, manifest)
    return config, manifest, notes


def _reopen(run_dir: Path, overrides: dict, world: int) -> tuple[TrainConfig, Manifest, bool]:
    """The run's config with `overrides` (saved), its manifest, and whether it has finished all
    of the config's epochs."""
    run_dir = runlog.require_run(run_dir)
    saved = runlog.read_config(run_dir)
    overrides = {k: v for k, v in overrides.items() if k != "data"}
    changed = {k: (getattr(saved, k), v) for k, v in overrides.items()
               if k not in RESUMABLE_CHANGES and getattr(saved, k) != v}
    if changed:
        listing = ", ".join(f"--{k.replace('_', '-')} {new!r} (the run has {old!r})"
                            for k, (old, new) in sorted(changed.items()))
        raise RunError(f"--resume {run_dir}: {listing} differ from the run's config.json; drop "
                       "them to continue with the saved config, or start a new --out")
    config = TrainConfig.from_dict({**saved.to_dict(), **overrides})
    manifest = runlog.read_manifest(run_dir)
    check_shares(config.batch_size, int((manifest.table["split"] == "train").sum()), world)
    config.save(run_dir / runlog.CONFIG)
    info = runlog.read_info(run_dir)
    return config, manifest, info["state"] == "finished" and info["epochs_done"] >= config.epochs
