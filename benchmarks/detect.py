"""Benchmark: how well curator finds and fixes wrong labels, against plain CE and cleanlab.

The SCN paper's synthetic-noise protocol on any data set the importers read: per noise level and
seed, hold out a clean stratified test split, flip `noise` of each class's training labels
(`curator.noise.inject_noise`), then give every method the same backbone, image size and
training budget (epochs x images) and compare their rankings against the flip mask (AUROC,
precision at k = number of wrong labels), their flagged sets (precision, recall), their proposals
(share of wrong labels corrected, clean labels changed) and the test accuracy of the final model.
With `--truth FILE` or `--truth-column NAME` the noise is real (wrong = given != truth) and
`--noise` is ignored. Methods: see `detect_methods.py`.

    python benchmarks/detect.py digits --noise 0.2 0.3 --seeds 0 1 2 --out bench/digits
    python benchmarks/detect.py sample_data/truth.csv --noise 0.2 --out bench/sample
    python benchmarks/detect.py FERPLUS_DEV/truth.csv --label-column given --truth-column true \\
        --image-size 48 --out bench/ferplus
    python benchmarks/detect.py digits --noise 0.2 0.3 --seeds 0 1 2 --out bench/digits --rescore

`digits` is scikit-learn's 1,797 real 8x8 digits, exported as PNG class folders under `--out`.
Trained runs are cached in OUT/runs by their full config, so rerunning after a change to
curator's scoring modules only rescores (`--rescore` guarantees it: a missing run is an error).
Writes OUT/results.csv (one row per method x noise x seed) and OUT/summary.md, and prints the
summary; `--append FILE` also appends it, with the command line, to FILE.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from curator import proposals, runlog, scores, suspicion
from curator.errors import CuratorError, TrainingError
from detect_data import DIGITS, load_base, load_vote_entropy, make_replicate
from detect_methods import METHODS, Budget, Runs, detect
from detect_report import failed_row, goal_check, markdown, result_row, summarise


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help=f"a data set the importers read, or {DIGITS!r}")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--format", default="auto", help="importer format of DATA")
    parser.add_argument("--label-column", default="label",
                        help="label column of a CSV (the clean base for synthetic noise)")
    parser.add_argument("--truth", help="real noise: a CSV filepath,label of true labels")
    parser.add_argument("--truth-column", help="real noise: the true-label column of DATA")
    parser.add_argument("--votes-column", help="real noise: the annotator-votes column of DATA "
                        "(`class:count|...`), to correlate curator's ambiguity with vote entropy")
    parser.add_argument("--limit", type=int, help="use a stratified subsample of about N images")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--backbone", default="compact")
    parser.add_argument("--pretrained", action="store_true",
                        help="start every method from the backbone's published weights (e.g. "
                             "mtcnn_onet's, which ship with facenet-pytorch); default: from scratch")
    parser.add_argument("--weights", help="every method starts from this local weights file")
    parser.add_argument("--image-size", type=int, help="default 32 for digits, 48 otherwise")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--relabel-epoch", type=int, help="default: half the epochs")
    parser.add_argument("--scn-option", action="append", default=[], metavar="NAME=JSON",
                        help="another TrainConfig option for the SCN runs, e.g. margin_2=0.1, "
                        "or lr=0.04 for SCN's own learning rate")
    parser.add_argument("--folds", type=int, default=5, help="cleanlab's K (K models are trained)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--out", type=Path, help="results and the cache of trained runs "
                                                 "(default: a temporary folder, no cache)")
    parser.add_argument("--rescore", action="store_true",
                        help="never train: score the cached runs in --out again")
    parser.add_argument("--append", type=Path, help="also append the summary to this file")
    return parser.parse_args(argv)


def budget_from(args: argparse.Namespace) -> Budget:
    options = []
    for item in args.scn_option:
        name, _, value = item.partition("=")
        try:
            options.append((name.strip(), json.loads(value)))
        except json.JSONDecodeError:
            raise CuratorError(f"--scn-option {item!r}: write NAME=VALUE with a JSON value, "
                               "e.g. margin_2=0.1") from None
    return Budget(backbone=args.backbone, pretrained=args.pretrained, weights=args.weights,
                  image_size=args.image_size or (32 if args.data == DIGITS else 48),
                  epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  relabel_epoch=args.relabel_epoch, scn_options=tuple(options), folds=args.folds,
                  device=args.device, workers=args.workers)


def run(args: argparse.Namespace, out: Path) -> pd.DataFrame:
    """Every method on every replicate; returns the results table (also written to OUT)."""
    if args.rescore and not (out / "runs").is_dir():
        raise CuratorError(f"--rescore: {out}/runs holds no trained runs; run once without "
                           "--rescore first")
    base = load_base(args.data, out / "data", data_format=args.format,
                     label_column=args.label_column, truth=args.truth,
                     truth_column=args.truth_column, limit=args.limit)
    budget = budget_from(args)
    runs = Runs(out / "runs", train_allowed=not args.rescore)
    levels = [None] if base.real_noise else args.noise
    entropy = load_vote_entropy(args.data, args.votes_column,
                                label_column=args.label_column) if args.votes_column else None
    rows = []
    for noise in levels:
        for seed in args.seeds:
            replicate = make_replicate(base, out / "data", noise=noise, seed=seed,
                                       test_share=args.test_share)
            for method in args.methods:
                try:
                    detection = detect(method, replicate, budget, runs)
                except TrainingError as error:  # a run that cannot learn counts, as a failure
                    print(f"  {method} failed: {error}")
                    rows.append(failed_row(method, replicate, base.name))
                    continue
                rows.append(result_row(detection, replicate, base.name, entropy))
    results = pd.DataFrame(rows)
    runlog.atomic_write(out / "results.csv", lambda tmp: results.to_csv(tmp, index=False))
    return results


def report(results: pd.DataFrame, argv: list[str], seconds: float) -> str:
    """The markdown block: command, machine, date, summary table and goal check."""
    command = "python " + shlex.join(["benchmarks/detect.py", *argv])
    machine = (f"{platform.machine()}, {os.cpu_count()} CPU cores, "
               f"{torch.get_num_threads()} torch threads")
    if torch.cuda.is_available():
        machine += f", {torch.cuda.get_device_name()}"
    # the version of what scored the runs: curator/scores.py, proposals.py and suspicion.py
    scoring = hashlib.sha1(b"".join(Path(module.__file__).read_bytes()
                                    for module in (scores, proposals, suspicion)))
    summary = summarise(results)
    return "\n".join([
        f"`{command}`", "",
        f"{datetime.date.today()}, {machine}, {seconds:.0f} s in all, "
        f"scoring sha1 {scoring.hexdigest()[:8]}", "",
        markdown(summary), "",
        *[f"- {line}" for line in goal_check(summary)], ""])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="curator-detect-") as scratch:
            out = args.out or Path(scratch)
            results = run(args, out)
            text = report(results, argv, time.perf_counter() - started)
            runlog.atomic_write_text(out / "summary.md", text)
    except CuratorError as error:
        sys.exit(f"error: {error}")
    print(text)
    if args.append:
        with args.append.open("a") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
