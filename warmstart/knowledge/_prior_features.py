"""Feature vectors of (task, source, recipe) for the prior's models.

Four groups, each optional (:data:`GROUPS`):

* ``task``: the task's meta-features (:func:`warmstart.knowledge.metafeatures.meta_features`);
* ``shots``: ``log(1 + shots)`` (0 = no labels) and whether every label is used (shots None);
* ``transfer``: the source's transferability scores (LogME, LEEP, any ``tf_<name>``);
* ``recipe``: the strategy one-hot, each numeric hyperparameter (log10 when every value seen in
  training is positive), each text hyperparameter value one-hot, and whether an architecture is set.

The vocabulary (which meta-features, scores, strategies and hyperparameters exist) is fixed when
the encoder is fitted; a name unseen in training is ignored, and a value that is missing (a
meta-feature the caller does not give, a hyperparameter the strategy does not have) is imputed
with the median of that feature over the training records.

A *situation* — what the caller knows of a new task — is one mapping: meta-features by name
(bare or ``mf_<name>``), ``shots``, and transferability scores (``tf_<name>``, ``logme``, ``leep``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warmstart.errors import ConfigError
from warmstart.knowledge._prior_table import PriorTable, RecipeSpec, _num, transfer_features

GROUPS = ("task", "shots", "transfer", "recipe")


def check_groups(groups: Sequence[str]) -> tuple[str, ...]:
    """The groups, validated.

    Raises:
        ConfigError: an unknown group, or none.
    """
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise ConfigError(f"unknown or no prior feature group(s) {bad or list(groups)}; valid: {', '.join(GROUPS)}")
    return tuple(dict.fromkeys(groups))


def split_situation(situation: Mapping[str, Any]) -> tuple[dict[str, float], int | None, dict[str, float]]:
    """(meta-features, shots, transferability) of a situation mapping (see the module docstring)."""
    tf = transfer_features(situation)
    meta: dict[str, float] = {}
    for k, v in situation.items():
        x = _num(v)
        if x is None or k == "shots" or k.startswith("tf_") or k in tf:
            continue
        meta[k[3:] if k.startswith("mf_") else k] = x
    shots = _num(situation.get("shots"))
    return meta, None if shots is None else int(shots), tf


@dataclass
class Encoder:
    """The fitted vocabulary of the prior's feature vectors."""

    groups: tuple[str, ...] = GROUPS
    meta: list[str] = field(default_factory=list)
    transfer: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    numeric: list[tuple[str, bool]] = field(default_factory=list)  # (param, log10)
    categorical: list[tuple[str, str]] = field(default_factory=list)  # (param, value)
    medians: list[float] = field(default_factory=list)  # per feature, over the training records

    @classmethod
    def fit(cls, table: PriorTable, groups: Sequence[str] = GROUPS) -> Encoder:
        """The vocabulary of ``table`` (only the recipes its records or curves use)."""
        used = sorted({r.recipe for r in table.records} | {c.recipe for c in table.curves})
        specs = [table.recipes[i] for i in used]
        values: dict[str, list[float]] = {}
        cats: set[tuple[str, str]] = set()
        for s in specs:
            for k, v in s.params.items():
                x = _num(v) if not isinstance(v, bool) else float(v)
                if x is not None:
                    values.setdefault(k, []).append(x)
                elif isinstance(v, str):
                    cats.add((k, v))
        tasks = {r.task for r in table.records} | {c.task for c in table.curves}
        enc = cls(
            groups=check_groups(groups),
            meta=sorted({k for t in tasks for k in table.tasks[t].meta}),
            transfer=sorted({k for r in table.records for k in r.transfer}
                            | {k for c in table.curves for k in c.transfer}),
            strategies=sorted({s.strategy for s in specs}),
            numeric=[(k, all(x > 0 for x in xs)) for k, xs in sorted(values.items())],
            categorical=sorted(cats),
        )
        rows = [(r.task, r.transfer, r.recipe) for r in table.records] + [(c.task, c.transfer, c.recipe)
                                                                          for c in table.curves]
        raw = np.asarray([enc._raw(table.tasks[t].meta, table.tasks[t].shots, tf, table.recipes[i])
                          for t, tf, i in rows], dtype=np.float64).reshape(len(rows), len(enc.names()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column that is all NaN
            med = np.nanmedian(raw, axis=0) if len(rows) else np.zeros(len(enc.names()))
        enc.medians = [float(m) if math.isfinite(m) else 0.0 for m in med.tolist()]
        return enc

    def names(self) -> list[str]:
        """The feature names, in vector order."""
        out: list[str] = []
        if "task" in self.groups:
            out += [f"mf_{k}" for k in self.meta]
        if "shots" in self.groups:
            out += ["log1p_shots", "all_labels"]
        if "transfer" in self.groups:
            out += [f"tf_{k}" for k in self.transfer]
        if "recipe" in self.groups:
            out += [f"strategy={s}" for s in self.strategies]
            out += [f"{'log10 ' if log else ''}p_{k}" for k, log in self.numeric]
            out += [f"p_{k}={v}" for k, v in self.categorical]
            out.append("has_architecture")
        return out

    def vector(self, meta: Mapping[str, float], shots: int | None, transfer: Mapping[str, float],
               spec: RecipeSpec) -> list[float]:
        """The feature vector of one (task, source, recipe), missing values imputed."""
        raw = self._raw(meta, shots, transfer, spec)
        return [m if math.isnan(v) else v for v, m in zip(raw, self.medians, strict=True)]

    def _raw(self, meta: Mapping[str, float], shots: int | None, transfer: Mapping[str, float],
             spec: RecipeSpec) -> list[float]:
        nan = math.nan
        out: list[float] = []
        if "task" in self.groups:
            out += [float(meta[k]) if k in meta else nan for k in self.meta]
        if "shots" in self.groups:
            out += [nan if shots is None else math.log1p(max(0, shots)), 1.0 if shots is None else 0.0]
        if "transfer" in self.groups:
            out += [float(transfer[k]) if k in transfer else nan for k in self.transfer]
        if "recipe" in self.groups:
            out += [1.0 if spec.strategy == s else 0.0 for s in self.strategies]
            for k, log in self.numeric:
                v = spec.params.get(k)
                x = float(v) if isinstance(v, bool) else _num(v)
                out.append(nan if x is None or (log and x <= 0) else math.log10(x) if log else x)
            out += [1.0 if spec.params.get(k) == v else 0.0 for k, v in self.categorical]
            out.append(1.0 if spec.architecture else 0.0)
        return out
