"""The figures of `curator report` and `curator evaluate`: data in, matplotlib Figure out.

Figures are built with `matplotlib.figure.Figure` (the Agg canvas), never pyplot, so no GUI
backend and no global figure state are involved; `png_bytes` encodes one for saving or embedding.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

HIGH_COLOUR, LOW_COLOUR = "#1f77b4", "#d62728"


def png_bytes(figure: Figure) -> bytes:
    """`figure` encoded as PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def weight_distribution(epochs: Sequence[int], histograms: np.ndarray, edges: np.ndarray) -> Figure:
    """Heat map of the importance-weight histogram (epochs x bins, shares) per epoch."""
    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(histograms.T, origin="lower", aspect="auto", cmap="viridis",
                        extent=(epochs[0] - 0.5, epochs[-1] + 0.5, edges[0], edges[-1]))
    figure.colorbar(image, ax=axes, label="share of samples")
    axes.set(xlabel="epoch", ylabel="importance weight", title="Importance-weight distribution per epoch")
    return figure


def group_mean_weights(epochs: Sequence[int], high: np.ndarray, low: np.ndarray) -> Figure:
    """Mean importance weight of the high and the low group per epoch."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    axes = figure.subplots()
    axes.plot(epochs, high, "o-", color=HIGH_COLOUR, label="high group")
    axes.plot(epochs, low, "o-", color=LOW_COLOUR, label="low group")
    axes.set(xlabel="epoch", ylabel="mean weight", ylim=(0, 1.02), title="Mean weight per group")
    axes.legend()
    return figure


def relabels_per_epoch(epochs: Sequence[int], relabels: np.ndarray, changed_share: np.ndarray,
                       relabel_epoch: int) -> Figure:
    """Bars: SCN's in-training relabels per epoch; line: share trained on a changed label."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    axes = figure.subplots()
    axes.bar(epochs, relabels, color="#9467bd", label="relabels")
    axes.axvline(relabel_epoch - 0.5, color="grey", linestyle="--", label="relabel epoch")
    axes.set(xlabel="epoch", ylabel="relabels", title="SCN relabels per epoch")
    share_axes = axes.twinx()
    share_axes.plot(epochs, changed_share, "k.-", label="trained on changed label")
    share_axes.set(ylabel="share trained on a changed label", ylim=(0, max(0.05, changed_share.max() * 1.2)))
    lines = axes.get_legend_handles_labels()[0] + share_axes.get_legend_handles_labels()[0]
    axes.legend(lines, [line.get_label() for line in lines], loc="upper center",
                bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    return figure


def low_weight_rate(classes: Sequence[str], rates: np.ndarray) -> Figure:
    """Share of each class's sample-epochs spent in the low-importance group."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    axes = figure.subplots()
    bars = axes.bar(classes, rates, color=LOW_COLOUR)
    axes.bar_label(bars, labels=[f"{r:.0%}" for r in rates])
    axes.set(xlabel="given label", ylabel="low-weight rate", ylim=(0, 1),
             title="Low-weight rate per class")
    return figure


def confusion(counts: np.ndarray, rows: Sequence[str], columns: Sequence[str], *,
              row_title: str, column_title: str, title: str) -> Figure:
    """Annotated count matrix (rows x columns)."""
    figure = Figure(figsize=(1.0 + 0.75 * len(columns), 1.0 + 0.6 * len(rows)), layout="constrained")
    axes = figure.subplots()
    axes.imshow(counts, cmap="Blues", vmin=0, vmax=max(int(counts.max()), 1))
    threshold = counts.max() / 2
    for (i, j), count in np.ndenumerate(counts):
        axes.text(j, i, str(int(count)), ha="center", va="center", fontsize=9,
                  color="white" if count > threshold else "black")
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set(xlabel=column_title, ylabel=row_title, title=title)
    return figure


def face_strip(paths: Sequence[str], captions: Sequence[str], *, size: int = 96) -> Figure:
    """The given images side by side (a grey tile where one cannot be read), captioned."""
    columns = min(len(paths), 8) or 1
    rows = -(-len(paths) // columns) or 1
    figure = Figure(figsize=(1.6 * columns, 2.0 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, path, caption in zip(grid.flat, paths, captions):
        axes.imshow(_thumbnail(path, size), cmap="gray", vmin=0, vmax=255)
        axes.set_title(caption, fontsize=8)
    figure.suptitle("Lowest-weight faces (given → proposed, final weight)")
    return figure


def precision_recall(precision: np.ndarray, recall: np.ndarray, base_rate: float,
                     average_precision: float) -> Figure:
    """PR curve of the suspicion ranking against the noise rate (a random ranking)."""
    figure = Figure(figsize=(5, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.step(np.r_[0.0, recall], np.r_[precision[:1], precision], where="post",
              label=f"suspicion (AP {average_precision:.3f})")
    axes.axhline(base_rate, color="grey", linestyle="--", label=f"random ({base_rate:.3f})")
    axes.set(xlabel="recall (flipped labels found)", ylabel="precision", xlim=(0, 1),
             ylim=(0, 1.02), title="Finding flipped labels by suspicion")
    axes.legend(loc="lower left")
    return figure


def reliability(confidence: np.ndarray, accuracy: np.ndarray, count: np.ndarray, ece: float) -> Figure:
    """Reliability diagram of proposal confidence: accuracy per confidence bin vs the diagonal."""
    figure = Figure(figsize=(5, 4.5), layout="constrained")
    axes = figure.subplots()
    edges = np.linspace(0, 1, len(count) + 1)
    filled = count > 0
    axes.bar(edges[:-1][filled], accuracy[filled], width=np.diff(edges)[filled], align="edge",
             edgecolor="black", alpha=0.7, label="share of proposals right")
    axes.plot(confidence[filled], confidence[filled], "r.", label="mean confidence in bin")
    axes.plot([0, 1], [0, 1], "k--", linewidth=1)
    axes.set(xlabel="proposal confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02),
             title=f"Calibration of proposals (ECE {ece:.3f})")
    axes.legend(loc="lower right")
    return figure


def _thumbnail(path: str, size: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((size, size)))
    except (OSError, ValueError):
        return np.full((size, size, 3), 200, dtype=np.uint8)
