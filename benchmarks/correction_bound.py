"""Benchmark: how many wrong labels could a run's records correct at all, changing <= 2% of the
right ones?

For each run directory with known truth (a `detect.py` cache run, or `curator train --truth`), every
training sample proposes the class other than its given one with the highest mean probability
over an epoch window (p = SCN's weighted softmax, as curator's proposals read it), and the
proposals are ranked by how far that class's mean probability beats the given label's by the
run's `--proposal-rule` or by `--rule` (`curator.proposals.proposal_margin`: their difference, or
their ratio; `auto`: the one `sample_scores` settles on for the run).
`curator.metrics.best_correction` then picks the threshold that corrects the most wrong labels
while changing at most `--max-clean-share` of the right ones, knowing the truth: an upper bound
for any proposal rule of that kind (curator's included). Printed beside it: the
ceiling (wrong labels whose candidate is the truth, at any cost) and what curator's own
proposals (`sample_scores`) did.

    python benchmarks/correction_bound.py RUN_DIR [RUN_DIR ...] [--max-clean-share 0.02]
        [--rule auto|lead|ratio]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from curator import metrics, runlog
from curator.config import PROPOSAL_RULES, TrainConfig
from curator.proposals import evidence_mean, proposal_margin
from curator.scores import sample_scores
from curator.suspicion import best_other_class
from detect_methods import training_records

HEADER = ("| run | epochs | wrong | ceiling | last 5 epochs | all epochs | first half | "
          "curator's proposals |\n|---|---|---|---|---|---|---|---|")


def candidates(mean_probs: np.ndarray, given: np.ndarray, rule: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """Best other class of each row of (N, K) mean probabilities, and its `proposal_margin` over
    the given label by `rule`."""
    rows = np.arange(len(given))
    best = best_other_class(mean_probs, given)
    return best, proposal_margin(mean_probs[rows, best], mean_probs[rows, given], rule)


def bound_row(run_dir: Path, max_clean_share: float, rule: str | None = None) -> str:
    """One markdown row: each cell is the share of wrong labels corrected (right labels changed).
    `rule`: the proposal rule to rank by and to propose with; default: the run's own."""
    if "truth" not in runlog.read_manifest(run_dir).table:
        raise SystemExit(f"{run_dir}: the run has no truth (train it with --truth)")
    probs, weights, given, truth = training_records(run_dir)
    known = truth >= 0
    probs, weights, given, truth = probs[:, known], weights[:, known], given[known], truth[known]
    epochs, wrong = len(probs), given != truth
    scores = sample_scores(run_dir, rule=rule)
    rule = scores.attrs["proposal_rule"]  # `auto` settled
    last = TrainConfig.proposal_window  # the default window
    windows = {"last": slice(max(epochs - last, 0), epochs), "all": slice(0, epochs),
               "first half": slice(0, max(epochs // 2, 1))}
    cells, best_of = [], {}
    for name, window in windows.items():
        every = np.ones(weights[window].shape, bool)
        mean = evidence_mean(probs[window], weights[window], every, 0)
        best_of[name], margin = candidates(mean, given, rule)
        share, changed = metrics.best_correction(given, best_of[name], margin, truth,
                                                 max_clean_share=max_clean_share)
        cells.append(f"{share:.2f} ({changed})")
    ceiling = (best_of["all"] == truth)[wrong].mean()
    scores = scores[scores["split"] == "train"]
    proposed = scores["proposed_label"].cat.codes.to_numpy(np.int64)[known]
    final = np.where(proposed >= 0, proposed, given)
    own = (f"{metrics.flips_corrected(given, final, truth):.2f} "
           f"({metrics.clean_labels_changed(given, final, truth)})")
    return (f"| {run_dir.name} | {epochs} | {int(wrong.sum())} | {ceiling:.2f} | "
            f"{' | '.join(cells)} | {own} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--max-clean-share", type=float, default=0.02)
    parser.add_argument("--rule", choices=PROPOSAL_RULES,
                        help="proposal rule to rank by (default: each run's --proposal-rule)")
    args = parser.parse_args(argv)
    print(f"share of wrong labels corrected (right labels changed), at most "
          f"{args.max_clean_share:.0%} of the right labels changed\n")
    print(HEADER)
    for run_dir in args.runs:
        print(bound_row(run_dir, args.max_clean_share, args.rule))


if __name__ == "__main__":
    main()
