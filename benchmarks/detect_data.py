"""Data for the detection benchmark: a base data set, a clean test split, noisy training CSVs.

The base is any data set the importers read (or `digits`: scikit-learn's 1,797 real 8x8 digits,
exported once as PNG class folders). Per seed, a stratified `test_share` of it is held out with
its clean labels; the rest is the training set. Synthetic noise (`curator.noise.inject_noise`)
flips only training labels. With real noise (truth known from `--truth`/`--truth-column`) the
given labels are trained on and the truth is the test label. Everything lands in CSV files
(`filepath,label,truth`) that `curator train` reads with `truth_column="truth"`, so each run
directory carries its own truth. The trap: write these files once and reuse them, since the
cached runs point at them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from curator import runlog
from curator.data.importers import load_manifest
from curator.data.manifest import build
from curator.data.truth import attach_truth, parse_votes, vote_entropy
from curator.errors import DataError
from curator.noise import inject_noise

DIGITS = "digits"


@dataclass(frozen=True)
class BaseData:
    """The samples to benchmark on: filepath, label (given) and, with real noise, truth."""

    table: pd.DataFrame
    name: str  # folder-safe: the data set's name and a hash of its content

    @property
    def real_noise(self) -> bool:
        return "truth" in self.table


@dataclass(frozen=True)
class Replicate:
    """One noise level x seed: the CSVs every method of this replicate trains and tests on."""

    noise_level: str  # "0.2" for injected noise, "real" for given-vs-truth
    seed: int
    train_csv: Path  # filepath, label (noisy), truth
    test_csv: Path  # filepath, label (clean)
    val_csv: Path  # the test images labelled like the training set: curator's validation data


def export_digits(folder: Path, *, limit: int | None = None) -> Path:
    """scikit-learn's digits (or a stratified `limit` of them) as `folder/<digit>/<index>.png`
    (8x8 grayscale), written once."""
    from sklearn.datasets import load_digits

    done = folder / ".complete"  # written last: an interrupted export is redone in full
    if done.exists():
        return folder
    digits = load_digits()
    chosen = range(len(digits.target)) if limit is None else stratified_sample(
        pd.DataFrame({"label": digits.target}), limit, seed=0).index
    for target in set(digits.target):
        (folder / str(target)).mkdir(parents=True, exist_ok=True)
    for index in chosen:
        pixels = (digits.images[index] * 255 / 16).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / str(digits.target[index]) / f"{index:04d}.png")
    done.touch()
    return folder


def load_base(data: str, cache: Path, *, data_format: str = "auto", label_column: str = "label",
              truth: str | None = None, truth_column: str | None = None,
              limit: int | None = None) -> BaseData:
    """Import DATA (or export `digits` under `cache`), attach truth if given, subsample to about
    `limit` images (stratified, the same subsample for every seed)."""
    if data == DIGITS:
        source = export_digits(cache / f"digits-images{'' if limit is None else f'-{limit}'}",
                               limit=limit)
    else:
        source = Path(data)
    manifest = load_manifest(source, format=data_format, label_column=label_column)
    if truth or truth_column:
        manifest, _ = attach_truth(manifest, truth_csv=truth, truth_column=truth_column,
                                   data_csv=source if source.is_file() else None)
    columns = ["filepath", "label"] + (["truth"] if truth or truth_column else [])
    table = manifest.table[columns]
    if limit is not None and data != DIGITS:
        table = stratified_sample(table, limit, seed=0)
    digest = hashlib.sha1(table.to_csv(index=False).encode()).hexdigest()[:8]
    if data == DIGITS:
        name = DIGITS
    else:
        name = f"{source.parent.name}-{source.stem}" if source.is_file() else source.name
    return BaseData(table.reset_index(drop=True), f"{name}-{digest}")


def load_vote_entropy(data: str, column: str, *, label_column: str = "label") -> pd.Series:
    """Vote entropy (nats) of each image of the CSV `data`, indexed by absolute file path."""
    manifest = load_manifest(Path(data), format="csv", label_column=label_column)
    with_votes, _ = attach_truth(manifest, votes_column=column, data_csv=Path(data), skip_bad=True)
    classes = list(with_votes.classes)
    entropy = [vote_entropy(parse_votes(v, classes)) if isinstance(v, str) and v else np.nan
               for v in with_votes.table["votes"]]
    return pd.Series(entropy, index=with_votes.table["filepath"].to_numpy(), dtype=np.float64)


def stratified_sample(table: pd.DataFrame, count: int, *, seed: int) -> pd.DataFrame:
    """About `count` rows, the same share of every class (at least two per class)."""
    share = min(count / len(table), 1.0)
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(members)[:max(2, round(share * len(members)))]
              for members in table.groupby("label").indices.values()]
    return table.iloc[np.sort(np.concatenate(picked))]


def held_out_mask(labels: pd.Series, share: float, *, seed: int) -> np.ndarray:
    """Mask of a stratified, seeded `share` of the rows (every class keeps a training row)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for members in labels.groupby(labels.to_numpy()).indices.values():
        count = min(round(share * len(members)), len(members) - 1)
        mask[rng.permutation(members)[:count]] = True
    return mask


def make_replicate(base: BaseData, folder: Path, *, noise: float | None, seed: int,
                   test_share: float) -> Replicate:
    """Split, corrupt (synthetic noise) and write the CSVs of one replicate, unless written."""
    level = "real" if noise is None else f"{noise:g}"
    where = folder / base.name / f"test{test_share:g}-noise{level}-seed{seed}"
    replicate = Replicate(level, seed, where / "train.csv", where / "test.csv", where / "val.csv")
    if all(p.exists() for p in (replicate.train_csv, replicate.test_csv, replicate.val_csv)):
        return replicate
    table = base.table
    clean = table["truth"] if base.real_noise else table["label"]
    held_out = held_out_mask(clean, test_share, seed=seed)
    if base.real_noise:
        train, val = table[~held_out], table[held_out]
    else:
        rows = table.assign(split=np.where(held_out, "test", "train"))
        classes = sorted(table["label"].unique())
        noisy = inject_noise(build(rows, classes, base.name), noise, seed=seed).table
        train = noisy[noisy["split"] == "train"]
        # the test images flipped at the same rate, as an annotator would have labelled them
        val = inject_noise(build(table[held_out], classes, base.name), noise, seed=seed).table
    train = train[["filepath", "label", "truth"]]
    test = pd.DataFrame({"filepath": table["filepath"][held_out], "label": clean[held_out]})
    _check_classes(train, base)
    for path, frame in ((replicate.test_csv, test), (replicate.val_csv, val[["filepath", "label"]]),
                        (replicate.train_csv, train)):
        if not path.exists():  # cached runs point at the files already written
            runlog.atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    return replicate


def fold_csvs(train_csv: Path, folds: int, *, seed: int) -> list[tuple[Path, np.ndarray]]:
    """K stratified folds of a training CSV: (CSV of the other folds, held-out row positions)."""
    table = pd.read_csv(train_csv, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(table), int)
    for members in table.groupby("label").indices.values():
        fold[rng.permutation(members)] = np.arange(len(members)) % folds
    result = []
    for k in range(folds):
        path = train_csv.parent / f"folds{folds}-{k}.csv"
        if not path.exists():
            runlog.atomic_write(path, lambda tmp: table[fold != k].to_csv(tmp, index=False))
        result.append((path, np.flatnonzero(fold == k)))
    return result


def _check_classes(train: pd.DataFrame, base: BaseData) -> None:
    missing = sorted(set(base.table["label"]) - set(train["label"]))
    if missing:
        raise DataError(f"{base.name}: class(es) {missing} have no training sample after the "
                        "test split; use more data (--limit) or a smaller --test-share")

