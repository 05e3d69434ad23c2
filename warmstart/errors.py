"""The one exception hierarchy of warmstart.

Every error a user can cause (a bad name, a bad file, a bad option) is a
:class:`WarmstartError`. The CLI prints ``str(error)`` as one line and exits
with code 2; any other exception reaching the CLI is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable


class WarmstartError(Exception):
    """Base class of every user-facing warmstart error."""


class UnknownNameError(WarmstartError, KeyError):
    """A task, backbone, strategy or other registry name does not exist."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        shown = ", ".join(self.valid)
        plural = kind[:-1] + "ies" if kind.endswith("y") and kind[-2:-1] not in "aeiou" else kind + "s"
        super().__init__(f"unknown {kind} {name!r}; valid {plural}: {shown}")

    def __str__(self) -> str:  # KeyError would add quotes
        return str(self.args[0])


class DataError(WarmstartError, ValueError):
    """A dataset is malformed: NaN/inf values, bad labels, empty classes, unreadable files."""


class CheckpointError(WarmstartError, ValueError):
    """A checkpoint is missing, truncated, tampered with or does not fit its backbone."""


class IncompatibleError(WarmstartError, ValueError):
    """A source and a target cannot be combined (e.g. an image source for a tabular task)."""


class ConfigError(WarmstartError, ValueError):
    """An option or hyperparameter is out of range or contradictory."""


class TrainingDivergedError(WarmstartError, RuntimeError):
    """The training loss became NaN or infinite."""


class StorageError(WarmstartError, RuntimeError):
    """A knowledge-base storage is unreachable, malformed or from an incompatible version."""


class TrialTimeoutError(WarmstartError, TimeoutError):
    """A search trial ran longer than its time limit (``--trial-timeout``)."""


class SearchFailedError(WarmstartError, RuntimeError):
    """A search stopped because too many trials in a row failed (each trial's reason is kept)."""
