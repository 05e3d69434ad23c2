"""Which prior ``auto`` uses: the user's own, else the one shipped with the package.

:func:`load_prior` looks for the user's prior (``$WARMSTART_CACHE/prior.json``, written by
``warmstart kb fit-prior``), then the one shipped in ``warmstart/knowledge/prior_data/prior.json.gz``;
with neither it returns None, and a caller falls back to its hand-written rules, saying so with
:data:`NO_PRIOR`. ``warmstart auto`` reads it (:mod:`warmstart.auto.prior_plan`; ``--prior none``
turns it off). The prior itself: :mod:`warmstart.knowledge.prior`.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from warmstart._paths import cache_dir
from warmstart.knowledge.prior import Prior

__all__ = ["NO_PRIOR", "SHIPPED_PRIOR", "USER_PRIOR", "load_prior", "shipped_prior_path", "user_prior_path"]

#: the user's prior, written by ``warmstart kb fit-prior`` (in the cache folder)
USER_PRIOR = "prior.json"
#: the prior shipped with the package (package data of ``warmstart.knowledge``)
SHIPPED_PRIOR = "prior_data/prior.json.gz"
NO_PRIOR = ("no prior: no user prior (warmstart kb fit-prior) and none shipped with this version, "
            "so the strategies come from the hand-written rules")


def user_prior_path() -> Path:
    """Where ``warmstart kb fit-prior`` writes by default: ``$WARMSTART_CACHE/prior.json``."""
    return cache_dir() / USER_PRIOR


def shipped_prior_path() -> Path | None:
    """The prior file shipped with the package, or None when this version ships none."""
    ref = importlib.resources.files("warmstart.knowledge").joinpath(SHIPPED_PRIOR)
    return Path(str(ref)) if ref.is_file() else None


def load_prior(path: str | Path | None = None) -> Prior | None:
    """The prior to use, or None (the caller then keeps its hand-written rules and says :data:`NO_PRIOR`).

    Args:
        path: A prior file; None: the user's (:func:`user_prior_path`) when it exists, else the
            shipped one (:func:`shipped_prior_path`), else None.

    Raises:
        DataError: the chosen file is missing (only when ``path`` is given), unreadable or malformed.
    """
    if path is not None:
        return Prior.load(path)
    for p in (user_prior_path(), shipped_prior_path()):
        if p is not None and p.is_file():
            return Prior.load(p)
    return None
