"""Serve a review dataset in the FiftyOne App, with curator's plugin loaded.

The plugin (`plugins/scn-review` in the source tree) is installed as the package data of the
`curator_scn_review` package (see `package-dir` in pyproject.toml), so it is found the same way
from a source checkout, an editable install or a wheel: by asking the import system where that
package lives, without importing it. `use_plugin` points FiftyOne's plugins directory at that
folder, in this process and (through the environment) in the App server that `launch` starts.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
from pathlib import Path
from urllib.parse import quote

import fiftyone as fo

from curator.errors import ReviewError

PLUGIN_PACKAGE = "curator_scn_review"
PLUGIN_NAME = "@curator/scn-review"


def plugin_dir() -> Path:
    """The folder holding the scn-review plugin's fiftyone.yml."""
    spec = importlib.util.find_spec(PLUGIN_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders or not (Path(folders[0]) / "fiftyone.yml").is_file():
        raise ReviewError(f"curator's FiftyOne plugin ({PLUGIN_PACKAGE}) is not installed; "
                          "reinstall curator (`pip install .`, or `pip install -e .` in a checkout)")
    return Path(folders[0])


def use_plugin() -> Path:
    """Make FiftyOne load curator's plugin, here and in App servers started from here."""
    folder = plugin_dir()
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(folder)
    fo.config.plugins_dir = str(folder)
    return folder


def check_port(address: str, port: int) -> None:
    """Raise ReviewError naming the port (and a free one) if the App could not listen there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the App server does
        try:
            probe.bind((address, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ReviewError(f"port {port} on {address} is already in use (another FiftyOne "
                                  f"App?); pass a free one, e.g. --port {free_port(address)}") from None
            raise ReviewError(f"cannot serve the App on {address}:{port} ({error.strerror}); "
                              "check --address (e.g. 127.0.0.1) and --port") from None


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port that is free on `address` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def app_url(dataset: fo.Dataset, address: str, port: int) -> str:
    """The App's address for `dataset`."""
    return f"http://{address}:{port}/datasets/{quote(dataset.name)}"


def launch(dataset: fo.Dataset, *, address: str = "127.0.0.1", port: int = 5151) -> fo.Session:
    """Start the App for `dataset` on address:port with the plugin; returns the session."""
    check_port(address, port)
    use_plugin()
    return fo.launch_app(dataset, address=address, port=port, remote=True)


def serve_forever(session: fo.Session) -> None:
    """Keep the App running until Ctrl-C."""
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
