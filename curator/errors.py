"""The exceptions curator raises for bad input; the CLI turns each into one line and exit code 1."""


class CuratorError(Exception):
    """A problem the user can fix: the message names the file, row or option and the fix."""


class DataError(CuratorError):
    """Input data that cannot be read or does not fit the expected layout."""


class RunError(CuratorError):
    """A run directory that is missing, incomplete or does not match the requested config."""


class WeightsError(CuratorError):
    """Pretrained or checkpoint weights that are unavailable or do not fit the model."""


class ReviewError(CuratorError):
    """A FiftyOne dataset or App problem during review."""


class TrainingError(CuratorError):
    """Training that cannot usefully go on (e.g. SCN's importance weights vanished)."""
