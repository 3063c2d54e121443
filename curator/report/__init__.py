"""`curator report RUN_DIR --out DIR`: what SCN did to a run's labels, as PNG plots, one
self-contained HTML page (DIR/index.html) and the headline numbers (DIR/summary.json).

The folder is built beside DIR and swapped in whole, so a failed report leaves nothing behind;
`force` replaces an earlier report. A run still training is reported from its completed epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from curator import metrics, plots, runlog
from curator.outputs import prepare_output, write_folder_atomically
from curator.report.numbers import (EpochStats, epoch_stats, label_codes, proposal_counts,
                                    summary)
from curator.report.page import render
from curator.scores import sample_scores

STRIP_FACES = 16
PAGE = "index.html"

__all__ = ["PAGE", "build_report"]


def build_report(run_dir: Path, out: Path, *, force: bool = False) -> dict:
    """Write DIR/index.html, DIR/summary.json and one PNG per figure; returns the summary."""
    run_dir = runlog.require_run(run_dir)
    out = Path(out)
    prepare_output(out, force=force, folder=True)
    info = runlog.read_info(run_dir)
    config = runlog.read_config(run_dir)
    classes = tuple(info["classes"])
    scores = sample_scores(run_dir)
    stats = epoch_stats(run_dir, config, len(classes))
    numbers = summary(run_dir, info, classes, scores, stats)
    figures = _figures(scores, stats, numbers, config.relabel_epoch)

    def build(folder: Path) -> None:
        encoded = [(name, caption, plots.png_bytes(figure)) for name, caption, figure in figures]
        for name, _, png in encoded:
            (folder / name).write_bytes(png)
        (folder / "summary.json").write_text(json.dumps(numbers, indent=2) + "\n")
        (folder / PAGE).write_text(render(numbers, encoded), encoding="utf-8")

    write_folder_atomically(out, build, written_by="curator report")
    return numbers


def _figures(scores: pd.DataFrame, stats: EpochStats, numbers: dict,
             relabel_epoch: int) -> list[tuple[str, str, Figure]]:
    """(file name, caption, figure) for every plot the run's data supports."""
    classes = numbers["classes"]
    figures = [
        ("weights_per_epoch.png", "Importance-weight distribution per epoch",
         plots.weight_distribution(stats.epochs, stats.weight_histograms, stats.weight_edges)),
        ("group_weights.png", "Mean weight of the high and low groups per epoch",
         plots.group_mean_weights(stats.epochs, stats.mean_weight_high, stats.mean_weight_low)),
        ("relabels_per_epoch.png", "SCN's in-training relabels per epoch",
         plots.relabels_per_epoch(stats.epochs, stats.relabels, stats.changed_share, relabel_epoch)),
        ("low_weight_rate.png", "Share of each class's sample-epochs in the low-weight group",
         plots.low_weight_rate(classes, stats.low_weight_rate)),
        ("proposals_confusion.png", "Relabel proposals: given label → proposed label",
         plots.confusion(proposal_counts(scores, len(classes)), classes, classes,
                         row_title="given label", column_title="proposed label",
                         title="Given → proposed")),
        ("lowest_weight_faces.png", "The lowest-weight faces with their labels and proposals",
         _face_strip(scores)),
    ]
    if numbers["truth"]:
        figures += _truth_figures(scores[scores["truth"].notna()], numbers["truth"])
    return figures


def _face_strip(scores: pd.DataFrame) -> Figure:
    lowest = scores.nsmallest(STRIP_FACES, "scn_weight")
    captions = []
    for row in lowest.itertuples(index=False):
        proposed = row.proposed_label if isinstance(row.proposed_label, str) else "—"
        caption = f"{row.given_label} → {proposed}\nw {row.scn_weight:.2f}"
        if isinstance(getattr(row, "truth", None), str):
            caption += f"\ntrue: {row.truth}"
        captions.append(caption)
    return plots.face_strip(lowest["filepath"].tolist(), captions)


def _truth_figures(known: pd.DataFrame, truth_numbers: dict) -> list[tuple[str, str, Figure]]:
    given, truth = label_codes(known["given_label"]), label_codes(known["truth"])
    flipped = given != truth
    suspicion = known["suspicion"].to_numpy(np.float64)
    figures = []
    if flipped.any():
        precision, recall, _ = metrics.precision_recall_curve(suspicion, flipped)
        figures.append(("suspicion_pr_curve.png", "Precision–recall of the suspicion ranking",
                        plots.precision_recall(precision, recall, truth_numbers["noise_rate"],
                                               truth_numbers["suspicion_average_precision"])))
    proposed = label_codes(known["proposed_label"])
    has = proposed >= 0
    if has.any():
        confidence = known["confidence"].to_numpy(np.float64)[has]
        bins = metrics.reliability_bins(confidence, proposed[has] == truth[has])
        figures.append(("proposal_reliability.png", "Reliability of proposal confidence",
                        plots.reliability(*bins, truth_numbers["proposal_ece"])))
    return figures
