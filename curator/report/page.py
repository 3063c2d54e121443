"""The self-contained HTML page of `curator report`: headline numbers, per-epoch table and every
figure embedded as a base64 PNG, so the one file can be mailed or opened offline.

Each number sits in a cell with a `data-key` attribute (e.g. `truth.proposal_precision`,
`epoch.3.relabels`) so scripts and tests can read the page back.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from curator.proposals import describe_rule

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 2em 0; } img { max-width: 100%; } figcaption { color: #555; }
"""
HEADLINES = (
    ("training_samples", "training samples"),
    ("proposals", "samples with a relabel proposal"),
    ("scn_relabelled", "samples SCN trained on a changed label (last epoch)"),
    ("final_mean_weight", "mean importance weight, last epoch"),
)
TRUTH_HEADLINES = (
    ("samples_with_truth", "samples with a known true label"),
    ("flipped", "flipped labels (given ≠ truth)"),
    ("noise_rate", "noise rate"),
    ("suspicion_auroc", "AUROC of the suspicion ranking"),
    ("suspicion_average_precision", "average precision of the suspicion ranking"),
    ("suspicion_precision_at_flipped", "precision of the top-k suspicious (k = flipped)"),
    ("proposal_precision", "proposal precision (proposals equal to the truth)"),
    ("proposal_recall", "proposal recall (flipped labels with the right proposal)"),
    ("flips_corrected", "share of flipped labels corrected by accepting every proposal"),
    ("clean_labels_changed", "clean labels wrongly changed by accepting every proposal"),
    ("net_gain", "net gain in correct labels by accepting every proposal"),
    ("expected_net_gain", "net gain the calibrated confidences expected (computed without truth)"),
    ("proposal_ece", "expected calibration error of proposal confidence"),
    ("scn_flips_corrected", "share of flipped labels corrected in SCN's own label table"),
    ("scn_clean_labels_changed", "clean labels changed in SCN's own label table"),
    ("scn_net_gain", "net gain in correct labels of SCN's own label table"),
)


def render(numbers: dict, figures: Sequence[tuple[str, str, bytes]]) -> str:
    """The report page for summary `numbers` and (file name, caption, PNG bytes) figures."""
    state = numbers["state"]
    epochs = numbers["epochs"]
    status = f"{state}, {len(epochs)} epoch(s) recorded"
    if state == "training":
        status += " — still training: numbers cover the completed epochs only"
    rows = [_row(key, label, numbers[key]) for key, label in HEADLINES]
    rows.append(f'<tr><th>proposal rule</th><td data-key="proposal_rule">'
                f'{html.escape(describe_rule(numbers["proposal_rule"]))}</td></tr>')
    rows += [_row(f"low_weight_rate.{name}", f"low-weight rate, {name}", rate)
             for name, rate in numbers["low_weight_rate"].items()]
    if numbers["truth"]:
        rows += [_row(f"truth.{key}", label, numbers["truth"][key]) for key, label in TRUTH_HEADLINES]
    per_epoch = [
        "<tr>" + _cell(f"epoch.{epoch}", epoch)
        + _cell(f"epoch.{epoch}.mean_weight_high", high) + _cell(f"epoch.{epoch}.mean_weight_low", low)
        + _cell(f"epoch.{epoch}.relabels", relabels) + "</tr>"
        for epoch, high, low, relabels in zip(epochs, numbers["mean_weight_high"],
                                              numbers["mean_weight_low"], numbers["relabels_per_epoch"])]
    images = [
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"><figcaption>{html.escape(caption)} '
        f"({html.escape(name)})</figcaption></figure>"
        for name, caption, png in figures]
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>curator report — {html.escape(numbers['run_dir'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>curator report</h1>",
        f"<p>Run <code>{html.escape(numbers['run_dir'])}</code>: {html.escape(status)}; classes "
        f"{html.escape(', '.join(numbers['classes']))}.</p>",
        "<h2>Headline numbers</h2>", "<table>", *rows, "</table>",
        "<h2>Per epoch</h2>",
        "<table><tr><th>epoch</th><th>mean weight, high group</th><th>mean weight, low group</th>"
        "<th>relabels</th></tr>", *per_epoch, "</table>",
        "<h2>Figures</h2>", *images, "</body></html>", ""])


def format_number(value: float | int | None) -> str:
    """How a number appears on the page: integers as is, rates with three decimals."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def _row(key: str, label: str, value: float | int | None) -> str:
    return f"<tr><th>{html.escape(label)}</th>{_cell(key, value)}</tr>"


def _cell(key: str, value: float | int | None) -> str:
    return f'<td class="number" data-key="{html.escape(key)}">{format_number(value)}</td>'
