"""TrainConfig: every option of a training run, with the SCN paper's defaults.

The CLI only fills this object; the trainer only reads it; `RUN_DIR/config.json` stores it so a
run can be resumed or reproduced. Recipes are named bundles of optimiser settings
(`paper`, `authors-code`); options given explicitly override the recipe.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.errors import CuratorError

METHODS = ("scn", "ce")
RELABEL_SCOPES = ("low", "batch")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("step", "exponential")
DEVICES = ("auto", "cpu", "cuda")
# Proposal rule -> its line: a proposal needs its class's mean probability to beat the given
# label's by more than this, as a difference (`lead`) or a ratio (`ratio`; curator/proposals.py).
PROPOSAL_LINES = {"lead": 0.25, "ratio": 2.2}
# `auto` picks one of the two from the run's records (proposals.late_rise).
PROPOSAL_RULES = ("auto", *PROPOSAL_LINES)
# Options that change how a run's records are scored, not what it trains: a run's training is the
# same whatever they are (`training_dict`), and `--resume` may change them.
SCORING_OPTIONS = ("proposal_window", "proposal_rule")

# Optimiser bundles. `paper`: Sec. 3.5 of Wang et al. 2020; `authors-code`: the defaults of the
# authors' train.py (Adam, ExponentialLR 0.9, batch 64, delta_1 = 0.07 tuned for that batch).
RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(
        optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, schedule="step",
        milestones=(15, 30), lr_decay=0.1, epochs=40, batch_size=1024, margin_1=0.15,
    ),
    "authors-code": dict(
        optimizer="adam", lr=0.01, momentum=0.9, weight_decay=1e-4, schedule="exponential",
        milestones=(), lr_decay=0.9, epochs=70, batch_size=64, margin_1=0.07,
        relabel_scope="batch",
    ),
}


@dataclass(frozen=True)
class TrainConfig:
    """All hyper-parameters of one SCN (or plain cross-entropy) training run."""

    # data
    data: str = ""
    data_format: str = "auto"
    label_column: str = "label"
    val_data: str | None = None
    skip_bad: bool = False
    inject_noise: float = 0.0
    holdout: float | None = None  # None: the validation split calibrates, else DEFAULT_HOLDOUT
    truth: str | None = None
    truth_column: str | None = None
    votes_column: str | None = None
    image_size: int = 224
    # model
    method: str = "scn"
    backbone: str = "resnet18"
    pretrained: bool = True
    weights: str | None = None
    drop_rate: float = 0.0
    # SCN
    beta: float = 0.7
    margin_1: float = 0.15
    learn_margin: bool = False
    gamma: float = 0.5
    margin_2: float = 0.2
    relabel_epoch: int = 10
    relabel_scope: str = "low"
    relabel: bool = False  # the rule is recorded every epoch; applying it is opt-in (BENCHMARKS.md)
    # scoring (SCORING_OPTIONS: how review and export read the records, not how training runs)
    proposal_window: int = 5  # epochs whose mean probabilities propose relabels; 0 = every epoch
    proposal_rule: str = "auto"  # how far the best other class must beat the given one (proposals.py)
    # optimisation
    recipe: str = "paper"
    optimizer: str = "sgd"
    lr: float = 0.1
    attention_lr_scale: float = 1.0  # the attention head's rate = lr x this (README)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "step"
    milestones: tuple[int, ...] = (15, 30)
    lr_decay: float = 0.1
    epochs: int = 40
    batch_size: int = 1024
    # execution
    device: str = "auto"
    amp: bool = True
    workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        _check_choice("method", self.method, METHODS)
        _check_choice("relabel-scope", self.relabel_scope, RELABEL_SCOPES)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("device", self.device, DEVICES)
        _check_choice("proposal-rule", self.proposal_rule, PROPOSAL_RULES)
        _check_range("beta", self.beta, 0.0, 1.0, open_ends=True)
        _check_range("gamma", self.gamma, 0.0, 1.0)
        _check_range("margin-1", self.margin_1, 0.0, 1.0)
        _check_range("margin-2", self.margin_2, 0.0, 1.0)
        _check_range("inject-noise", self.inject_noise, 0.0, 1.0, open_ends=False)
        if self.holdout is not None:
            _check_range("holdout", self.holdout, 0.0, 0.5)
        if self.inject_noise >= 1.0:
            raise CuratorError("--inject-noise must be below 1 (a share of each class), got "
                               f"{self.inject_noise}")
        if self.proposal_window < 0:
            raise CuratorError(f"--proposal-window must be 0 (every epoch) or more, got "
                               f"{self.proposal_window}")
        for name in ("epochs", "batch_size", "image_size", "relabel_epoch"):
            if getattr(self, name) < 1:
                raise CuratorError(f"--{name.replace('_', '-')} must be at least 1, "
                                   f"got {getattr(self, name)}")
        if self.lr <= 0:
            raise CuratorError(f"--lr must be positive, got {self.lr}")
        _check_range("attention-lr-scale", self.attention_lr_scale, 0.0, 1.0)
        if self.attention_lr_scale == 0:
            raise CuratorError("--attention-lr-scale must be above 0 (0 would freeze the "
                               "attention head at its random start)")
        if self.method == "ce" and self.attention_lr_scale != 1:
            raise CuratorError("--attention-lr-scale applies to --method scn only (plain "
                               "cross-entropy has no attention head)")
        if self.workers < 0:
            raise CuratorError(f"--workers must be 0 or more, got {self.workers}")
        if self.truth and self.truth_column:
            raise CuratorError("give either --truth FILE or --truth-column NAME, not both")
        if self.inject_noise and (self.truth or self.truth_column):
            raise CuratorError("--inject-noise makes its own truth; drop --truth/--truth-column")

    @classmethod
    def from_recipe(cls, recipe: str = "paper", **overrides: Any) -> "TrainConfig":
        """Build a config from a named recipe; keyword overrides that are not None win."""
        if recipe not in RECIPES:
            raise CuratorError(f"unknown --recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
        values = {**RECIPES[recipe], "recipe": recipe}
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "milestones" in values:
            values["milestones"] = tuple(int(m) for m in values["milestones"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every option."""
        values = dataclasses.asdict(self)
        values["milestones"] = list(self.milestones)
        return values

    def training_dict(self) -> dict[str, Any]:
        """`to_dict` less the SCORING_OPTIONS: what two runs must share to train alike."""
        return {k: v for k, v in self.to_dict().items() if k not in SCORING_OPTIONS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild a config written by `to_dict` (unknown keys are refused)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CuratorError(f"config has unknown option(s) {unknown}; was it written by a "
                               "newer curator?")
        values = dict(values)
        values["milestones"] = tuple(values.get("milestones", ()))
        return cls(**values)

    def save(self, path: Path) -> None:
        """Write the config as JSON (atomically)."""
        from curator.runlog import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """Read a config written by `save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def differences(self, other: "TrainConfig", *, ignore: tuple[str, ...] = ()) -> dict:
        """Options whose values differ: {name: (self_value, other_value)}."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine
                if k not in ignore and mine[k] != theirs[k]}


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise CuratorError(f"--{option} must be one of {', '.join(choices)}; got {value!r}")


def _check_range(option: str, value: float, low: float, high: float, *, open_ends: bool = False) -> None:
    inside = low < value < high if open_ends else low <= value <= high
    if not inside:
        bounds = f"({low}, {high})" if open_ends else f"[{low}, {high}]"
        raise CuratorError(f"--{option} must lie in {bounds}; got {value}")
