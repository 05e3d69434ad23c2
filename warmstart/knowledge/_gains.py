"""What a strategy gains from its full length over its trial budget: the prior's fidelity model.

``auto`` ranks recipes by short trials (:mod:`warmstart.auto.trial_budget`) and retrains its
winner at its strategy's full length (:mod:`warmstart.auto.final_fit`). Ranking at the trial
budget is biased against the strategies that need long training: on ``digits`` with 5 labels per
class, l2sp gains about one point of test accuracy from its full length while FixMatch gains
fifteen, so the trials' order is not the order of the models ``auto`` returns. This is the
multi-fidelity problem of Hyperband (Li et al., JMLR 2018) and of Quick-Tune (Arango et al.,
ICLR 2024), which predicts a recipe's score at the full budget rather than at the budget it was
observed at.

:class:`LengthGains` learns, per strategy and number of labels per class, the mean gain of test
score from the trial budget to the full length, from pairs of runs of the same recipe on the same
task, seed and source at both lengths (``benchmarks/length_gain.py`` measures them). The
estimate is shrunk in two levels (empirical Bayes, as a hierarchical normal model's posterior
mean with a fixed prior weight): a shots level's deviation from its strategy's mean is shrunk
toward none (:data:`PSEUDO_COUNT` pseudo-pairs), and a strategy's mean toward the mean gain of
every pair of every strategy (:data:`STRATEGY_PSEUDO_COUNT` pseudo-pairs): one
pair of runs on one task says little of a strategy (FixMatch gained 48 points on one task and 22
on another). A strategy with no pairs gains 0 (nothing is assumed), and so does a strategy on a modality none of
its pairs was measured on: a length gain measured on images says nothing of a tabular task (on
``breast_cancer`` gradual unfreezing was credited +0.15 from image pairs while its trial already
scored 1.0). A pair whose modality is unknown (a prior written before modalities were kept) counts for
every modality.
A final fit that only reaches part of the full length gets the part of the gain that its share of
the way from the trial's training work to the full length gives, on a log scale
(:func:`work_fraction`: learning curves rise about linearly in log steps over that range).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from warmstart.errors import DataError
from warmstart.knowledge._prior_table import _num

#: pseudo-pairs of no deviation added to a shots level's pairs (its deviation from its strategy's mean)
PSEUDO_COUNT = 2.0
#: pseudo-pairs of the mean gain over every strategy's pairs added to a strategy's pairs
STRATEGY_PSEUDO_COUNT = 2.0
#: one observed pair of runs: (labels per class, full − trial score, the task's modality or None: unknown)
Pair = tuple[int, float, str | None]
#: the fidelity column's values: a run at the trial budget, a run at the strategy's full length
TRIAL, FULL = "trial", "full"


def work_fraction(work_ratio: float, full_ratio: float) -> float:
    """How far a final fit goes from the trial's length to the full length, on a log scale of training work.

    Args:
        work_ratio: The final fit's training work over one trial's (1: the trial's length).
        full_ratio: The full length's training work over one trial's.

    Returns:
        0 at the trial's length, 1 at the full length; 0 when the full length is no longer than a trial
        (nothing to gain: the strategy runs at its full length in its trials, or the user fixed the length).
    """
    if not (math.isfinite(full_ratio) and full_ratio > 1.0):
        return 0.0
    if not (math.isfinite(work_ratio) and work_ratio > 1.0):
        return 0.0
    return min(1.0, math.log(work_ratio) / math.log(full_ratio))


@dataclass
class LengthGains:
    """Mean gain (full length − trial budget) per strategy and labels per class.

    Attributes:
        pairs: Strategy → its observed (labels per class, gain, modality or None) pairs.
        target: The score the gains are differences of (``test_accuracy``, ...).
    """

    pairs: dict[str, list[Pair]] = field(default_factory=dict)
    target: str = "test_accuracy"

    @classmethod
    def fit(cls, rows: Iterable[Mapping[str, Any]], target: str = "test_accuracy") -> LengthGains | None:
        """Pair each ``full`` row with the ``trial`` row of the same task, shots, seed, source and strategy.

        Args:
            rows: Runs with ``task`` (or ``key``), ``shots``, ``seed``, ``source_task``, ``strategy``,
                ``fidelity`` (``trial`` or ``full``), the ``target`` column and (optionally) the task's
                ``modality``; rows without a finite target (failed runs) are skipped.
            target: The score column.

        Returns:
            The gains, or None when no pair was found.
        """
        runs: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
        shots_of: dict[tuple[Any, ...], int] = {}
        modality_of: dict[tuple[Any, ...], str | None] = {}
        for r in rows:
            value, fidelity = _num(r.get(target)), r.get("fidelity")
            if value is None or fidelity not in (TRIAL, FULL) or not r.get("strategy"):
                continue
            key = (str(r.get("key") or r.get("task")), int(r.get("shots") or 0), r.get("seed"),
                   str(r.get("source_task") or ""), str(r["strategy"]))
            runs[key][str(fidelity)] = value
            shots_of[key] = int(r.get("shots") or 0)
            modality_of[key] = str(r["modality"]) if r.get("modality") else None
        pairs: dict[str, list[Pair]] = defaultdict(list)
        for key, by in sorted(runs.items(), key=lambda kv: str(kv[0])):
            if TRIAL in by and FULL in by:
                pairs[key[4]].append((shots_of[key], by[FULL] - by[TRIAL], modality_of[key]))
        return cls(dict(pairs), target) if pairs else None

    def _of(self, strategy: str, modality: str | None) -> list[tuple[int, float]]:
        """``strategy``'s (shots, gain) pairs that count for ``modality`` (None: every pair)."""
        return [(k, g) for k, g, m in self.pairs.get(strategy, ()) if modality is None or m is None or m == modality]

    def gain(self, strategy: str, shots: int, fraction: float = 1.0, modality: str | None = None) -> float:
        """The expected gain of ``strategy`` at ``shots`` labels per class, ``fraction`` of the way to its full length.

        The strategy's mean over every level, shrunk toward the mean of every pair of every strategy,
        plus the deviation of the nearest observed shots level (nearest in log(1 + shots)) from that
        mean, shrunk toward none; 0 for a strategy without pairs. With ``modality`` (``image``,
        ``tabular``, ``text``) only pairs measured on that modality (or of unknown modality) count,
        the pooled mean included: 0 when there are none.
        """
        obs = self._of(strategy, modality)
        if not obs:
            return 0.0
        pooled = statistics.fmean(g for s in self.pairs for _, g in self._of(s, modality))
        raw = statistics.fmean(g for _, g in obs)
        overall = (len(obs) * raw + STRATEGY_PSEUDO_COUNT * pooled) / (len(obs) + STRATEGY_PSEUDO_COUNT)
        levels = sorted({s for s, _ in obs})
        near = min(levels, key=lambda s: (abs(math.log1p(s) - math.log1p(max(0, shots))), s))
        at = [g for s, g in obs if s == near]
        # the level's own deviation from its strategy's mean, shrunk (one level alone deviates by nothing)
        deviation = (statistics.fmean(at) - raw) * len(at) / (len(at) + PSEUDO_COUNT)
        return (overall + deviation) * min(1.0, max(0.0, fraction))

    def describe(self) -> str:
        """One phrase for the prior's description (with the pairs per modality when any is known)."""
        n = sum(len(v) for v in self.pairs.values())
        per = Counter(m or "unknown modality" for v in self.pairs.values() for _, _, m in v)
        known = set(per) != {"unknown modality"}
        split = f" ({', '.join(f'{m} {c}' for m, c in sorted(per.items()))})" if known else ""
        return f"length gains of {len(self.pairs)} strategies from {n} pairs of runs{split}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"target": self.target,
                "pairs": {s: [[k, g, m] for k, g, m in v] for s, v in sorted(self.pairs.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LengthGains:
        """Rebuild from :meth:`to_json` output (a pair written without its modality has none: unknown).

        Raises:
            DataError: malformed data.
        """
        try:
            pairs = {str(s): [_pair(*p) for p in v] for s, v in dict(data["pairs"]).items()}
            return cls(pairs, str(data["target"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed length gains in a prior ({type(exc).__name__}: {exc})") from None


def _pair(shots: Any, gain: Any, modality: Any = None) -> Pair:
    """One stored pair as (int, float, str | None)."""
    return int(shots), float(gain), None if modality is None else str(modality)
