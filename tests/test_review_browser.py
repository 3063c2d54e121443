"""The review App in a real headless Chromium: the grid renders and our operators are there.

`curator.review.launch` serves a small review dataset (real PNGs) on localhost; Chromium loads
it, dumps the DOM and writes a screenshot into the test's tmp folder; the App server's own
HTTP API lists and runs our operators, proving the plugin loads inside the App.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request

import fiftyone as fo
import pytest
from fiftyone import ViewField as F

from curator import review
from curator.review import schema
from synthetic_run import make_run

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
                None)
PLUGIN = "@curator/scn-review"
OPERATORS = ("accept_relabel", "reject_relabel", "set_label", "mark_ambiguous", "reset_review",
             "review_summary")
N_TRAIN = 8

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(dataset, port) of a running App with curator's plugin; stopped after the module."""
    run = make_run(tmp_path_factory.mktemp("browser"), n_train=N_TRAIN, epochs=2)
    dataset = review.load_run(run, name="curator-browser-test")
    port = review.free_port()
    with pytest.MonkeyPatch.context() as patch:  # launch() repoints FiftyOne's plugins dir
        patch.setenv("FIFTYONE_PLUGINS_DIR", fo.config.plugins_dir)
        patch.setattr(fo.config, "plugins_dir", fo.config.plugins_dir)
        session = review.launch(dataset, address="127.0.0.1", port=port)
        yield dataset, port
        session.close()
    dataset.delete()


def post(port: int, route: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{route}",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def test_app__chromium_renders_the_sample_grid_with_our_review_buttons(app, tmp_path):
    dataset, port = app
    screenshot = tmp_path / "app.png"
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    done = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--window-size=1600,1000",
         "--virtual-time-budget=15000", f"--screenshot={screenshot}", "--dump-dom",
         review.app_url(dataset, "127.0.0.1", port)],
        capture_output=True, text=True, timeout=300)
    dom = done.stdout

    assert done.returncode == 0, done.stderr[-2000:]
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    assert dom.count('data-cy="looker"') == N_TRAIN  # one tile per sample
    proposals = set(dataset.exists(schema.RELABEL).values(f"{schema.RELABEL}.label"))
    shown = set(re.findall(r'title="scn_relabel: (\w+)"', dom))
    assert shown == proposals  # the proposals are drawn on the tiles
    for operator in OPERATORS:
        assert f'data-item-id="{PLUGIN}/{operator}"' in dom  # a button in the grid's action bar


def test_app_server__lists_and_runs_our_operators(app):
    dataset, port = app
    listed = post(port, "/operators", {"dataset_name": dataset.name})
    assert {f"{PLUGIN}/{op}" for op in OPERATORS} <= {op["uri"] for op in listed["operators"]}
    assert listed["errors"] == []

    ran = post(port, "/operators/execute", {
        "operator_uri": f"{PLUGIN}/accept_relabel", "dataset_name": dataset.name, "view": [],
        "params": {"view_target": "DATASET"}})

    proposals = len(dataset.exists(schema.RELABEL))
    assert ran["result"]["updated"] == proposals
    assert len(dataset.match(F(schema.STATUS) == schema.ACCEPTED)) == proposals
    review.reset(dataset)
