"""A prior's file: its JSON form, and reading and writing it (gzip when the name ends in ``.gz``).

The file holds the prior's settings, its training table (:class:`._prior_table.PriorTable`), the
portfolio, the length gains and the models' cross-validated errors; the ranker is refitted from the
table when the file is read (deterministic for a fixed seed and scikit-learn version), the gray-box
model when it is first asked. Nothing is pickled. :class:`warmstart.knowledge.prior.Prior`'s
``to_json``, ``from_json``, ``save`` and ``load`` are these functions.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warmstart._atomic import write_bytes_atomic
from warmstart.errors import ConfigError, DataError
from warmstart.knowledge._gains import LengthGains
from warmstart.knowledge._portfolio import PortfolioMember
from warmstart.knowledge._prior_features import Encoder
from warmstart.knowledge._prior_table import PriorTable
from warmstart.knowledge._prior_types import PriorConfig
from warmstart.knowledge._ranker import Ranker

if TYPE_CHECKING:
    from warmstart.knowledge.prior import Prior

#: version 3: the ranker's model is a setting (``config.ranker``), and the stored errors are that model's;
#: version 4: the marginal model reads the task's modality first (its stored errors are that model's)
FORMAT, VERSION = "warmstart-prior", 4


def encode(prior: Prior) -> dict[str, Any]:
    """The whole prior as JSON (the models as their training table)."""
    import sklearn

    return {"format": FORMAT, "version": VERSION, "sklearn": sklearn.__version__,
            "config": prior.config.to_json(), "features": prior.encoder.names(),
            "tasks_fitted": prior.tasks,
            "sigma": {"ranker": prior.ranker.sigma, "cost": _finite_or_none(prior.ranker.cost_sigma),
                      "curves": prior.curve_sigmas},
            "portfolio": [m.to_json() for m in prior.portfolio], "table": prior.table.to_json(),
            "gains": None if prior.gains is None else prior.gains.to_json()}


def decode(data: Mapping[str, Any], path: str | None = None) -> tuple[Any, ...]:
    """The arguments of :class:`~warmstart.knowledge.prior.Prior` rebuilt from :func:`encode`'s output (the
    ranker refitted): table, config, encoder, ranker, curve errors, portfolio, tasks, gains, path.

    Raises:
        DataError: not a warmstart prior, another format version, or malformed.
    """
    where = f" {path}" if path else ""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise DataError(f"prior file{where} is not a warmstart prior")
    if data.get("version") != VERSION:
        raise DataError(f"prior file{where} has format version {data.get('version')!r}; this warmstart reads "
                        f"version {VERSION} (refit it: warmstart kb fit-prior)")
    try:
        c = data["config"]
        noise = c.get("fidelity_noise", False)
        if not isinstance(noise, bool):
            raise TypeError("fidelity_noise")
        config = PriorConfig(tuple(c["features"]), c["portfolio_size"], float(c["cost_weight"]), int(c["seed"]),
                             str(c["ranker"]), noise)
        table = PriorTable.from_json(data["table"])
        tasks = [str(t) for t in data["tasks_fitted"]]
        sig = data["sigma"]
        cost_sigma = float("nan") if sig["cost"] is None else float(sig["cost"])
        encoder = Encoder.fit(table, config.features)
        ranker = Ranker.fit(table, encoder, tasks, seed=config.seed, sigmas=(float(sig["ranker"]), cost_sigma),
                            kind=config.ranker)
        curve_sigmas = None if sig["curves"] is None else [float(s) for s in sig["curves"]]
        portfolio = [PortfolioMember.from_json(m) for m in data["portfolio"]]
        gains = None if data.get("gains") is None else LengthGains.from_json(data["gains"])
    except (KeyError, TypeError, ValueError, IndexError, ConfigError) as exc:
        raise DataError(f"prior file{where} is malformed ({type(exc).__name__}: {exc})") from None
    return table, config, encoder, ranker, curve_sigmas, portfolio, tasks, gains, path


def write(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write a prior's JSON (gzip when the name ends in ``.gz``), atomically; returns the path."""
    p = Path(path)
    raw = json.dumps(data, allow_nan=False, separators=(",", ":")).encode()
    write_bytes_atomic(p, gzip.compress(raw, mtime=0) if p.name.endswith(".gz") else raw)
    return p


def read(path: str | Path) -> Any:
    """The JSON of a prior file written by :func:`write` (gzip or not, whatever its name).

    Raises:
        DataError: a missing or unreadable file.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
        return json.loads(gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode())
    except FileNotFoundError:
        raise DataError(f"prior file {p} does not exist") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"prior file {p} is unreadable ({exc})") from None


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
