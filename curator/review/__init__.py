"""curator review: a run directory in FiftyOne, and the actions annotators take on it.

    from curator import review
    dataset = review.load_run("runs/raf")            # create or update; decisions are kept
    review.accept(dataset.load_saved_view("proposed relabels").limit(20))
    review.summary(dataset)                          # {"pending": ..., "accepted": ..., ...}
    review.launch(dataset, port=5151)                # the App, with the @curator/scn-review plugin

Fields, statuses and saved views: `curator.review.schema`; loading: `curator.review.dataset`;
actions: `curator.review.actions`; the App: `curator.review.app`.
"""

import os

# curator runs offline; FiftyOne's usage tracking would only try the network.
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

from curator.review.actions import (  # noqa: E402
    Outcome, accept, mark_ambiguous, reject, reset, set_label, summary)
from curator.review.app import (  # noqa: E402
    app_url, check_port, free_port, launch, plugin_dir, serve_forever, use_plugin)
from curator.review.dataset import (  # noqa: E402
    connect, default_name, load_run, read_decisions, run_dir_of)
from curator.review.schema import STATUSES  # noqa: E402

__all__ = ["Outcome", "STATUSES", "accept", "app_url", "check_port", "connect", "default_name",
           "free_port", "launch", "load_run", "mark_ambiguous", "plugin_dir", "read_decisions", "reject", "reset",
           "run_dir_of", "serve_forever",
           "set_label", "summary", "use_plugin"]
