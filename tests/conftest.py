"""Shared test set-up: FiftyOne runs on a throwaway database, never the user's.

The environment is set when pytest imports this file, before any test module imports fiftyone,
because FiftyOne reads its configuration once, at import.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

_FIFTYONE_HOME = Path(tempfile.mkdtemp(prefix="curator-tests-fiftyone-"))
(_FIFTYONE_HOME / "plugins").mkdir()
os.environ.pop("FIFTYONE_DATABASE_URI", None)
os.environ.update(
    FIFTYONE_DATABASE_DIR=str(_FIFTYONE_HOME / "db"),
    FIFTYONE_PLUGINS_DIR=str(_FIFTYONE_HOME / "plugins"),  # no user plugins leak into tests
    FIFTYONE_DO_NOT_TRACK="true",
    FIFTYONE_DATABASE_VALIDATION="false",  # silences the "oldest supported MongoDB" notice
    FIFTYONE_SHOW_PROGRESS_BARS="false",
)


def pytest_unconfigure(config):
    """Stop the test database (if a test started it), then delete it (~300 MB of journal)."""
    database = sys.modules.get("fiftyone.core.odm.database")
    service = getattr(database, "_db_service", None)  # FiftyOne only stops it at interpreter exit
    if service is not None:
        service.stop()
    shutil.rmtree(_FIFTYONE_HOME, ignore_errors=True)
