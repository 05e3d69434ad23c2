"""Declared hyperparameters: valid range, default, and the range a search tunes over.

Every strategy declares its hyperparameters as :class:`Param` objects, so the
constructor can refuse bad values with the valid range, the CLI can expose them
as options, and one generic search can tune any strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warmstart.errors import ConfigError


@dataclass(frozen=True)
class Param:
    """One hyperparameter.

    Attributes:
        default: Default value (also fixes the type: bool, int, float or str).
        low, high: Inclusive valid range for numbers (None: unbounded).
        choices: Valid values for categorical parameters.
        log: Tune on a log scale.
        search: (low, high) or tuple of choices a search explores; None: not tuned.
        help: One-line description.
    """

    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False
    search: tuple[Any, ...] | None = None
    help: str = ""

    @property
    def kind(self) -> str:
        """``bool``, ``int``, ``float``, ``str`` (categorical) from the default's type."""
        if self.choices is not None:
            return "categorical"
        return type(self.default).__name__ if self.default is not None else "float"

    def check(self, name: str, value: Any) -> Any:
        """Coerce and validate ``value``; return it.

        Raises:
            ConfigError: wrong type or out of the valid range (the message gives the range).
        """
        if self.choices is not None:
            if value not in self.choices:
                raise ConfigError(f"{name}={value!r} is not valid; choose one of {list(self.choices)}")
            return value
        if value is None and self.default is None:
            return None
        kind = self.kind
        try:
            if kind == "bool":
                if isinstance(value, str):
                    value = {"true": True, "false": False, "1": True, "0": False}[value.lower()]
                value = bool(value)
            elif kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(value)
            elif kind == "float":
                value = float(value)
        except (ValueError, TypeError, KeyError):
            raise ConfigError(f"{name}={value!r} is not a valid {kind}") from None
        if kind in ("int", "float"):
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{name}={value!r} must be a finite number")
            lo = "-inf" if self.low is None else self.low
            hi = "inf" if self.high is None else self.high
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise ConfigError(f"{name}={value!r} is out of range; valid range [{lo}, {hi}]")
        return value

    def describe(self) -> str:
        """Help text with default and valid range."""
        rng = (f" one of {list(self.choices)}" if self.choices is not None
               else f" in [{self.low if self.low is not None else '-inf'}, "
                    f"{self.high if self.high is not None else 'inf'}]" if self.kind in ("int", "float")
               else "")
        return f"{self.help} (default {self.default!r};{rng})".replace(";)", ")")


COMMON_PARAMS: dict[str, Param] = {
    "epochs": Param(30, 1, 100_000, help="training epochs"),
    "batch_size": Param(64, 1, 100_000, help="examples per step"),
    "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-4, 3e-2), help="learning rate"),
    "weight_decay": Param(1e-4, 0.0, 1.0, search=(1e-6, 1e-2), log=True, help="weight decay"),
    "label_smoothing": Param(0.0, 0.0, 0.99, help="label smoothing"),
    "augment": Param("light", choices=("none", "light", "strong"), help="image augmentation"),
    "min_steps": Param(100, 0, 10_000_000, help="at least this many optimizer steps (tiny support sets)"),
    "seed": Param(0, 0, 2**31 - 1, help="random seed"),
    "device": Param("auto", help="auto, cpu, cuda or cuda:N"),
    "progress": Param(True, help="show progress bars"),
}
