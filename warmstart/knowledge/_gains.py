"""What a strategy gains from its full length over its trial budget: the prior's fidelity model.

``auto`` ranks recipes by short trials (:mod:`warmstart.auto.trial_budget`) and retrains its
winner at its strategy's full length (:mod:`warmstart.auto.final_fit`). Ranking at the trial
budget is biased against the strategies that need long training: on ``digits`` with 5 labels per
class, l2sp gains about one point of test accuracy from its full length while FixMatch gains
fifteen, so the trials' order is not the order of the models ``auto`` returns. This is the
multi-fidelity problem of Hyperband (Li et al., JMLR 2018) and of Quick-Tune (Arango et al.,
ICLR 2024), which predicts a recipe's score at the full budget rather than at the budget it was
observed at.

:class:`LengthGains` learns, per strategy and number of labels per class, how much of a trial's
error its full length removes, from pairs of runs of the same recipe on the same task, seed and
source at both lengths (``benchmarks/length_gain.py`` measures them). Each pair gives the log of
the error kept, ``log((1 − full + ε) / (1 − trial + ε))`` (:data:`EPSILON` keeps it finite where
a run scored 1), and a trial scoring ``s`` is expected to reach ``1 − ((1 − s + ε)·kept − ε)``.
A ratio of errors, not a difference of scores, because it carries over between tasks of different
difficulty: on ``digits-rotated`` self-training's full length took a trial from 0.84 to 0.98,
+0.14, and the same +0.14 added to a trial that already validates at 0.93 on an easier task
would promise more than a perfect score (every such recipe then tied at the top and the choice
fell to a tie-break); as a ratio it removes 88 % of the error wherever it starts.
The log ratios are shrunk in two levels (empirical Bayes, as a hierarchical normal model's posterior
mean with a fixed prior weight): a shots level's deviation from its strategy's mean is shrunk
toward none (:data:`PSEUDO_COUNT` pseudo-pairs), and a strategy's mean toward the mean of
every pair of every strategy (:data:`STRATEGY_PSEUDO_COUNT` pseudo-pairs): one
pair of runs on one task says little of a strategy (FixMatch gained 48 points on one task and 22
on another). That second level pools the strategies per unit of training work, as a **slope**: each
pair's log ratio over the log of its full length's steps over its trial's (the pair's
``log_work``), since the strategies' full lengths differ sixtyfold (the fine-tuning family doubles
its trial's 50 steps, the adaptation loop runs 60 times them). Pooled as totals, the fine-tuning family
was pulled toward the adaptation strategies' sixtyfold gains: left out family by family on the
length-gain runs' image pairs, it over-predicted the full length of finetune, l2sp, llrd and bss by
+0.05 to +0.07 and of lora and multitask by +0.17 to +0.20 (root mean square error 0.111 over the 67
image pairs); pooled per unit of log work, finetune, l2sp, llrd and bss by −0.02 to −0.01, lora and
multitask by +0.05 and +0.02 (0.096), and the pick of the best trial plus its gain stayed as good
(``benchmarks/results/length_gain``'s left-out picks: regret 0.0018 either way). A strategy's pooled slope is
turned back into its own length with the mean ``log_work`` of its pairs. A pair stored without
``log_work`` (a prior saved before it was recorded) counts one unit: where no pair has it, the
pooling is that of totals.
A strategy with no pairs gains nothing (nothing is assumed), and so does a strategy on a modality none of
its pairs was measured on: a length gain measured on images says nothing of a tabular task (on
``breast_cancer`` gradual unfreezing was credited +0.15 from image pairs while its trial already
scored 1.0). A pair whose modality is unknown counts for every modality.
A final fit that only reaches part of the full length keeps the error of that share of the log
ratio, its share of the way from the trial's training work to the full length on a log scale
(:func:`work_fraction`: the log error of a learning curve falls about linearly in log steps, a power
law, over that range).
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
#: error added to both runs' errors in the log ratio (a run scoring 1 would make it infinite)
EPSILON = 0.01
#: one observed pair of runs: (labels per class, trial score, full-length score, the task's modality or None,
#: the log of the full run's steps over the trial's or None when not recorded)
Pair = tuple[int, float, float, str | None, float | None]
#: the gains model's version: the same pairs give other gains in another (2: pooled per unit of log work), so a
#: cache of priors fitted from the same rows keys on it
GAINS_MODEL = 2
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
    """How much of a trial's error each strategy's full length removes, per labels per class.

    Attributes:
        pairs: Strategy → its observed (labels per class, trial score, full score, modality or None) pairs.
        target: The score the pairs hold (``test_accuracy``, ...).
    """

    pairs: dict[str, list[Pair]] = field(default_factory=dict)
    target: str = "test_accuracy"
    _errors: dict[str | None, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def fit(cls, rows: Iterable[Mapping[str, Any]], target: str = "test_accuracy") -> LengthGains | None:
        """Pair each ``full`` row with the ``trial`` row of the same task, shots, seed, source and strategy.

        Args:
            rows: Runs with ``task`` (or ``key``), ``shots``, ``seed``, ``source_task``, ``strategy``,
                ``fidelity`` (``trial`` or ``full``), the ``target`` column (a score in [0, 1]) and
                (optionally) the task's ``modality`` and the run's ``steps`` (a pair's ``log_work`` is the
                log of the full run's over the trial's, where both are known and the full run's is longer);
                rows without a finite target (failed runs) are skipped.
            target: The score column.

        Returns:
            The gains, or None when no pair was found.
        """
        runs: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
        steps: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
        shots_of: dict[tuple[Any, ...], int] = {}
        modality_of: dict[tuple[Any, ...], str | None] = {}
        for r in rows:
            value, fidelity = _num(r.get(target)), r.get("fidelity")
            if value is None or fidelity not in (TRIAL, FULL) or not r.get("strategy"):
                continue
            key = (str(r.get("key") or r.get("task")), int(r.get("shots") or 0), r.get("seed"),
                   str(r.get("source_task") or ""), str(r["strategy"]))
            runs[key][str(fidelity)] = min(1.0, max(0.0, value))
            if (n := _num(r.get("steps"))) is not None and n > 0:
                steps[key][str(fidelity)] = n
            shots_of[key] = int(r.get("shots") or 0)
            modality_of[key] = str(r["modality"]) if r.get("modality") else None
        pairs: dict[str, list[Pair]] = defaultdict(list)
        for key, by in sorted(runs.items(), key=lambda kv: str(kv[0])):
            if TRIAL in by and FULL in by:
                ran = steps.get(key, {})
                work = math.log(ran[FULL] / ran[TRIAL]) if TRIAL in ran and FULL in ran and ran[FULL] > ran[TRIAL] \
                    else None
                pairs[key[4]].append((shots_of[key], by[TRIAL], by[FULL], modality_of[key], work))
        return cls(dict(pairs), target) if pairs else None

    def _of(self, strategy: str, modality: str | None) -> list[Pair]:
        """``strategy``'s pairs that count for ``modality`` (None: every pair)."""
        return [p for p in self.pairs.get(strategy, ()) if modality is None or p[3] is None or p[3] == modality]

    def log_kept(self, strategy: str, shots: int, modality: str | None = None) -> float:
        """The estimated log of the share of a trial's error that ``strategy``'s full length keeps.

        The strategy's mean log ratio over every level, shrunk toward the mean of every pair of every
        strategy, plus the deviation of the nearest observed shots level (nearest in log(1 + shots)) from
        that mean, shrunk toward none. Negative: the full length removes error; positive: it adds some
        (it scored lower on past tasks); 0 for a strategy without pairs. With ``modality`` (``image``,
        ``tabular``, ``text``) only pairs measured on that modality (or of unknown modality) count, the
        pooled mean included.
        """
        obs = [(k, _log_ratio(t, f)) for k, t, f, _, _ in self._of(strategy, modality)]
        if not obs:
            return 0.0
        # the pooled level per unit of log work (a slope), turned back into this strategy's own length
        slopes: dict[str, list[float]] = {}
        for s in self.pairs:
            unit = self._mean_work(s, modality)
            slopes[s] = [_log_ratio(t, f) / (w or unit) for _, t, f, _, w in self._of(s, modality)]
        pooled = statistics.fmean(v for per in slopes.values() for v in per)
        raw = statistics.fmean(v for _, v in obs)
        slope = statistics.fmean(slopes[strategy])
        overall = self._mean_work(strategy, modality) * (len(obs) * slope + STRATEGY_PSEUDO_COUNT * pooled) / (
            len(obs) + STRATEGY_PSEUDO_COUNT)
        levels = sorted({k for k, _ in obs})
        near = min(levels, key=lambda k: (abs(math.log1p(k) - math.log1p(max(0, shots))), k))
        at = [v for k, v in obs if k == near]
        # the level's own deviation from its strategy's mean, shrunk (one level alone deviates by nothing)
        deviation = (statistics.fmean(at) - raw) * len(at) / (len(at) + PSEUDO_COUNT)
        return overall + deviation

    def _mean_work(self, strategy: str, modality: str | None) -> float:
        """The mean ``log_work`` of ``strategy``'s pairs that record it (one unit when none does): the length its
        slope is turned back into, and the work of its pairs that do not record theirs."""
        known = [w for *_, w in self._of(strategy, modality) if w is not None]
        return statistics.fmean(known) if known else 1.0

    def error_std(self, modality: str | None = None) -> float:
        """Root mean square error of :meth:`gain` over the pairs that count for ``modality`` (in-sample): how far a
        full-length score lands from its trial's score plus the predicted gain; 0 without pairs. Computed once per
        modality (the final choice asks for it per trial)."""
        if modality not in self._errors:
            errs = [(f - t - self.gain(s, k, modality=modality, score=t)) ** 2
                    for s in self.pairs for k, t, f, *_ in self._of(s, modality)]
            self._errors[modality] = math.sqrt(statistics.fmean(errs)) if errs else 0.0
        return self._errors[modality]

    def reference(self, modality: str | None = None) -> float:
        """The mean trial score of the pairs that count for ``modality``: the level the pairs were measured at."""
        trials = [t for s in self.pairs for _, t, *_ in self._of(s, modality)]
        return statistics.fmean(trials) if trials else 0.0

    def gain(self, strategy: str, shots: int, fraction: float = 1.0, modality: str | None = None,
             score: float | None = None) -> float:
        """The expected gain of ``strategy`` over a trial scoring ``score``, ``fraction`` of the way to its full length.

        Args:
            strategy: The strategy.
            shots: Labels per class of the task.
            fraction: How far the final fit goes toward the full length (:func:`work_fraction`); the
                share of the log ratio it gets.
            modality: The task's modality (None: every pair counts).
            score: The trial's score in [0, 1]; None: :meth:`reference` (the pairs' own mean trial score).

        Returns:
            The expected score of the longer fit minus ``score`` (:meth:`log_kept`), never above
            ``1 − score``; negative where the full length scored lower on past tasks.
        """
        base = self.reference(modality) if score is None else min(1.0, max(0.0, float(score)))
        kept = math.exp(self.log_kept(strategy, shots, modality) * min(1.0, max(0.0, fraction)))
        error = min(1.0, max(0.0, (1.0 - base + EPSILON) * kept - EPSILON))
        return (1.0 - error) - base

    def describe(self) -> str:
        """One phrase for the prior's description (with the pairs per modality when any is known)."""
        n = sum(len(v) for v in self.pairs.values())
        per = Counter(p[3] or "unknown modality" for v in self.pairs.values() for p in v)
        known = set(per) != {"unknown modality"}
        split = f" ({', '.join(f'{m} {c}' for m, c in sorted(per.items()))})" if known else ""
        return f"length gains of {len(self.pairs)} strategies from {n} pairs of runs{split}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (each pair as [labels per class, trial score, full score, modality, log work])."""
        return {"target": self.target,
                "pairs": {s: [list(p) for p in v] for s, v in sorted(self.pairs.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LengthGains:
        """Rebuild from :meth:`to_json` output.

        Raises:
            DataError: malformed data.
        """
        try:
            pairs = {str(s): [_pair(*p) for p in v] for s, v in dict(data["pairs"]).items()}
            return cls(pairs, str(data["target"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed length gains in a prior ({type(exc).__name__}: {exc})") from None


def _log_ratio(trial: float, full: float) -> float:
    """log of the error the full length kept: (1 − full + ε) / (1 − trial + ε)."""
    return math.log((1.0 - full + EPSILON) / (1.0 - trial + EPSILON))


def _pair(shots: Any, trial: Any, full: Any, modality: Any = None, work: Any = None) -> Pair:
    """One stored pair as (int, float, float, str | None, float | None), scores in [0, 1], log work > 0."""
    t, f = float(trial), float(full)
    if not (0.0 <= t <= 1.0 and 0.0 <= f <= 1.0):
        raise ValueError(f"scores {t}, {f} outside [0, 1]")
    w = None if work is None else float(work)
    if w is not None and not (math.isfinite(w) and w > 0):
        raise ValueError(f"log work {w} is not positive")
    return int(shots), t, f, None if modality is None else str(modality), w
