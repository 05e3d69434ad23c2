"""The prior: which recipes win where, learned from earlier runs, for ``auto``'s first trials and final choice.

Fitted on trial rows (:func:`warmstart.knowledge.trials.trial_rows`, or the meta-dataset, which
has the same columns) by :func:`fit_prior`; four parts:

* a greedy portfolio (auto-sklearn 2.0, Feurer et al., JMLR 2022; :mod:`._portfolio`): the recipes
  that together cover most tasks, cost-aware;
* a conditional ranker (ZAP, Öztürk et al., ICML 2022; Quick-Tune, Arango et al., ICLR 2024;
  :mod:`._ranker`): a recipe's relative score on a new task from its meta-features, shots, the
  source's transferability (LogME, LEEP) and the recipe's features; :meth:`Prior.suggest` orders
  the candidates by predicted score − λ·log10(predicted seconds);
* a gray-box model (Quick-Tune; :mod:`._graybox`): a trial's final score from its first epochs,
  :meth:`Prior.predict_final` and :meth:`Prior.should_stop`;
* shrinkage of the noisy validation score toward the prior's prediction (:mod:`._shrinkage`),
  :meth:`Prior.final_scores` (the final choice among a task's trials) and :meth:`Prior.posterior`;
* length gains (:mod:`._gains`, when fitted with ``gain_rows``): what each strategy gains from its
  full length over the trial budget, so that the first picks and the final choice rank the models
  ``auto`` returns (retrained at full length) rather than its short trials.

Which score it learns from. A user's own knowledge base gives the prior only validation scores
(``target="score"``; ``warmstart kb fit-prior`` never reads another): test labels must never
drive a choice on the user's tasks. The prior shipped with the package may be fitted on the test
scores of the meta-dataset's tasks (``target="test_accuracy"``), which are never a user's task.

Storage (:mod:`._prior_io`). A prior is one JSON file (gzip-compressed when its name ends in ``.gz``) holding its
settings, its training table (:class:`._prior_table.PriorTable`), the portfolio and the models'
cross-validated errors; the models are refitted from the table at load time (deterministic for a
fixed seed and scikit-learn version): the ranker at once (seconds for a few thousand records), the
gray-box model when it is first asked. Nothing is pickled. Which file ``auto`` reads (the user's,
else the shipped one): :mod:`warmstart.knowledge.prior_files`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmstart.errors import ConfigError, DataError
from warmstart.knowledge import _prior_io
from warmstart.knowledge._gains import LengthGains
from warmstart.knowledge._graybox import CurveModel
from warmstart.knowledge._portfolio import PortfolioMember, greedy_portfolio
from warmstart.knowledge._prior_features import Encoder, split_situation
from warmstart.knowledge._prior_table import PriorTable, RecipeSpec, build_table, check_target
from warmstart.knowledge._prior_types import COST_WEIGHT, FinalScore, Observed, Pick, PriorConfig
from warmstart.knowledge._ranker import Ranker
from warmstart.knowledge._shrinkage import Posterior, shrink, task_prior_std, validation_variance
from warmstart.knowledge.similarity import rank_similar

__all__ = ["COST_WEIGHT", "FinalScore", "LengthGains", "Observed", "Pick", "Prior", "PriorConfig", "fit_prior"]

#: fewest tasks with two or more recipes a prior is fitted on
MIN_TASKS = 3


@dataclass
class Prior:
    """A fitted prior (see the module docstring). Build with :func:`fit_prior` or :meth:`load`."""

    table: PriorTable
    config: PriorConfig
    encoder: Encoder
    ranker: Ranker
    curve_sigmas: list[float] | None  # the gray-box model's errors by prefix length; None: no gray-box model
    portfolio: list[PortfolioMember]
    tasks: list[str]
    gains: LengthGains | None = None
    path: str | None = field(default=None, compare=False)
    _curves: CurveModel | None = field(default=None, compare=False, repr=False)

    @property
    def has_gray_box(self) -> bool:
        """Whether the training table held enough curves for :meth:`predict_final`."""
        return self.curve_sigmas is not None

    def _curve_model(self) -> CurveModel | None:
        if self._curves is None and self.curve_sigmas is not None:
            self._curves = CurveModel.fit(self.table, self.encoder, seed=self.config.seed, sigmas=self.curve_sigmas)
        return self._curves

    def length_gain(self, strategy: str, shots: int, fraction: float = 1.0, modality: str | None = None,
                    score: float | None = None) -> float:
        """Predicted gain of ``strategy``'s full length (or ``fraction`` of the way there) over a trial scoring
        ``score`` (None: the level the pairs were measured at), from the pairs measured on ``modality`` (None:
        every pair; :meth:`LengthGains.gain`): what auto's final fit adds, so never negative (auto keeps the
        trials' length where :meth:`raw_length_gain` is negative)."""
        if self.gains is None:
            return 0.0
        return max(0.0, self.gains.gain(strategy, shots, fraction, modality, score))

    def raw_length_gain(self, strategy: str, shots: int, modality: str | None = None) -> float:
        """The estimated gain of ``strategy``'s full length over its trial budget at the level the pairs were
        measured at, negative where the full length scored lower on past tasks (:meth:`LengthGains.gain`; 0
        without length gains)."""
        return 0.0 if self.gains is None else self.gains.gain(strategy, shots, 1.0, modality)

    # ---- what the prior says about a new task
    def candidates(self, strategies: Iterable[str] | None = None) -> list[RecipeSpec]:
        """The recipes of the training table (only those of ``strategies`` when given)."""
        allowed = None if strategies is None else set(strategies)
        used = sorted({r.recipe for r in self.table.records})
        return [self.table.recipes[i] for i in used if allowed is None or self.table.recipes[i].strategy in allowed]

    def predict(self, recipe: Any, situation: Mapping[str, Any]) -> tuple[float, float]:
        """(predicted relative score, std) of one recipe (a Recipe, spec or mapping) in a situation.

        The situation maps meta-feature names (bare or ``mf_``), ``shots`` and the source's
        transferability (``tf_<name>``, ``logme``, ``leep``) to numbers; missing ones are allowed. A
        ``modality`` text (``image``, ``tabular``, ``text``) selects the length gains measured on it.
        """
        meta, shots, tf = split_situation(situation)
        mean, _ = self.ranker.predict(meta, shots, tf, [RecipeSpec.of(recipe)])
        return float(mean[0]), self.ranker.sigma

    def suggest(self, situation: Mapping[str, Any], *, k: int = 3, strategies: Iterable[str] | None = None,
                sources: Mapping[str, Mapping[str, float]] | None = None, candidates: Sequence[Any] | None = None,
                cost_weight: float | None = None, full_length: bool = False,
                reach: Callable[[RecipeSpec, float | None], float] | None = None) -> list[Pick]:
        """The ``k`` best (recipe, source) pairs for a situation, best utility first, one per recipe.

        Args:
            situation: What is known of the task (see :meth:`predict`).
            k: How many picks.
            strategies: Only recipes of these strategies (e.g. those the situation allows).
            sources: Source name → its transferability scores (``logme``, ``leep``, ``tf_*``), best
                first; each recipe is scored with each source, and keeps the best one's utility only when the
                training table compares sources (:meth:`PriorTable.compares_sources`), else the first
                source's. None: no source features.
            candidates: Recipes to rank (default: every recipe of the training table).
            cost_weight: λ (default: the prior's).
            full_length: Rank the recipes as retrained at their full length: each utility adds its
                strategy's length gain (:meth:`length_gain`; nothing without length gains).
            reach: With ``full_length``, how far a recipe's final fit gets toward its full length
                (0–1, on :func:`~warmstart.knowledge._gains.work_fraction`'s scale) given its predicted
                seconds (None when not predicted): the gain counted is that of a fit that far
                (:meth:`length_gain`'s ``fraction``), since a time budget may not fit the full length.
                None: the whole gain.

        Raises:
            ConfigError: ``k`` < 1 or a negative ``cost_weight``.
        """
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        lam = self.config.cost_weight if cost_weight is None else cost_weight
        if not (math.isfinite(lam) and lam >= 0):
            raise ConfigError(f"cost_weight must be >= 0, got {lam}")
        specs = [RecipeSpec.of(c) for c in candidates] if candidates is not None else self.candidates(strategies)
        if strategies is not None:
            allowed = set(strategies)
            specs = [s for s in specs if s.strategy in allowed]
        meta, shots, tf = split_situation(situation)
        srcs: dict[str | None, dict[str, float]] = {None: tf} if not sources else {
            name: {**tf, **split_situation(v)[2]} for name, v in sources.items()}
        best: dict[str, Pick] = {}
        rank = {m.key: n for n, m in enumerate(self.portfolio, 1)}
        near = self._nearest(meta)
        modality = _modality(situation)
        # a table of one source per task cannot rank sources (on the meta-dataset the ranker preferred a digits
        # source for rotated MNIST): the caller's order decides (auto's: LogME, You et al., ICML 2021)
        by_source = self.table.compares_sources()
        gains = [self.length_gain(spec.strategy, shots or 0, 1.0, modality) if full_length else 0.0 for spec in specs]
        for name, feats in srcs.items():
            pred, secs = self.ranker.predict(meta, shots, feats, specs)
            for n, spec in enumerate(specs):
                s = None if secs is None else float(secs[n])
                if gains[n] and reach is not None:  # the share of the way its final fit gets
                    gain = self.length_gain(spec.strategy, shots or 0, reach(spec, s), modality)
                else:
                    gain = gains[n]
                util = float(pred[n]) + gain - (lam * math.log10(s) if s is not None and s > 0 else 0.0)
                if spec.key() in best and (best[spec.key()].utility >= util or not by_source):
                    continue
                best[spec.key()] = Pick(spec, name, float(pred[n]), self.ranker.sigma, s, util, rank.get(spec.key()),
                                        "", gain)
        picks = sorted(best.values(), key=lambda p: (-p.utility, p.spec.key()))[:k]
        fitted = set(self.tasks)
        scores = {t: v for t, v in self.table.scores().items() if t in fitted}
        for p in picks:
            p.why = self._why(p, near, scores)
        return picks

    def _nearest(self, meta: Mapping[str, float], k: int = 3) -> list[str]:
        metas = {t: self.table.tasks[t].meta for t in self.tasks if self.table.tasks[t].meta}
        return [t for t, _ in rank_similar(meta, metas, k)] if meta and metas else []

    def _why(self, p: Pick, near: list[str], scores: Mapping[str, Mapping[str, float]]) -> str:
        key = p.spec.key()
        ran = [t for t, v in scores.items() if key in v]
        parts = [f"predicted {p.predicted:+.3f} (±{p.std:.3f}) against the median recipe of a task"]
        if p.gain:
            parts.append(f"{p.gain:+.3f} more from its final fit's length")
        if p.seconds is not None:
            parts.append(f"about {p.seconds:.0f} s")
        if ran:
            wins = sum(1 for t in ran if scores[t][key] >= max(scores[t].values()))
            parts.append(f"best on {wins} of the {len(ran)} training tasks it ran on")
        if p.portfolio_rank is not None:
            parts.append(f"portfolio member {p.portfolio_rank} of {len(self.portfolio)}")
        if near:
            parts.append(f"nearest training tasks: {', '.join(near)}")
        return "; ".join(parts)

    def predict_final(self, curve_prefix: Sequence[float], recipe: Any,
                      task_features: Mapping[str, Any]) -> tuple[float, float]:
        """(mean, std) of a trial's final score from its first epochs (gray-box; Quick-Tune).

        Args:
            curve_prefix: Validation metric of the epochs run so far (one or more).
            recipe: The trial's recipe (a Recipe, spec or mapping with ``strategy``).
            task_features: The situation (see :meth:`predict`).

        Raises:
            ConfigError: the prior has no gray-box model (too few curves), or an empty prefix.
        """
        model = self._curve_model()
        if model is None:
            raise ConfigError("this prior has no gray-box model: its training table held too few curves")
        meta, shots, tf = split_situation(task_features)
        return model.predict_final(curve_prefix, RecipeSpec.of(recipe), meta, shots, tf)

    def should_stop(self, curve_prefix: Sequence[float], recipe: Any, task_features: Mapping[str, Any],
                    incumbent: float, z: float = 1.0) -> bool:
        """Whether a trial is unpromising: predicted final score + z·std below ``incumbent``.

        False when the prior has no gray-box model (nothing is stopped on no evidence).
        """
        if not self.has_gray_box:
            return False
        mean, std = self.predict_final(curve_prefix, recipe, task_features)
        return mean + z * std < incumbent

    def posterior(self, v: float, predicted: float, level: float, *, n_examples: int | None = None,
                  fold_scores: Sequence[float] = ()) -> Posterior:
        """Shrink a validation score ``v`` toward the prior's ``level + predicted`` (std: the ranker's).

        ``level`` puts the relative prediction on the validation scale (see :meth:`final_scores`,
        which estimates it). See :func:`._shrinkage.shrink`.
        """
        return shrink(v, level + predicted, self.ranker.sigma, n_examples=n_examples, fold_scores=fold_scores)

    def final_scores(self, observed: Sequence[Observed], situation: Mapping[str, Any], *,
                     n_examples: int | None = None, fractions: Sequence[float] | None = None) -> list[FinalScore]:
        """The shrinkage estimate of each finished trial of a task, best expected score first.

        The prior predicts relative scores, so the task's level is estimated from the trials
        themselves: the median over them of (validation score − relative prediction). Each trial's
        prior mean is that level plus its relative prediction, clipped to [0, 1] (every labelled
        metric's range); with a single trial the prior mean is its own score, so the prior changes
        nothing until there are two to compare. The prior's std is its error on this task, estimated
        from the trials' spread around those means and pooled with the ranker's across-task error
        (:func:`~warmstart.knowledge._shrinkage.task_prior_std`).

        Args:
            observed: The trials (recipe, validation score, fold scores, source's transferability).
            situation: What is known of the task (see :meth:`predict`).
            n_examples: Held-out labels behind each score (k-fold CV: the support size).
            fractions: Per trial, how far its final fit would go toward its full length
                (:func:`~warmstart.knowledge._gains.work_fraction`); each trial's expected score adds its
                strategy's length gain from its posterior mean over that share of the way (:meth:`length_gain`).
                None: no gain is added (the trials' own length). With ``config.fidelity_noise`` the
                validation's variance also adds the gain model's squared error over that share.

        Raises:
            ConfigError: a non-finite score, or neither ``n_examples`` nor two fold scores for a trial.
        """
        if not observed:
            return []
        if fractions is not None and len(fractions) != len(observed):
            raise ConfigError(f"{len(fractions)} fractions for {len(observed)} trials")
        _, shots, _ = split_situation(situation)
        _, means, sigma = self._on_task(observed, situation, n_examples)
        modality = _modality(situation)
        out = []
        error = self.gains.error_std(modality) if self.config.fidelity_noise and self.gains is not None else 0.0
        for i, (o, mean) in enumerate(zip(observed, means, strict=True)):
            extra = 0.0 if fractions is None else (error * min(1.0, max(0.0, fractions[i]))) ** 2
            post = shrink(o.score, mean, sigma, n_examples=n_examples, fold_scores=o.fold_scores, extra_variance=extra)
            strategy = RecipeSpec.of(o.recipe).strategy
            gain = 0.0 if fractions is None else self.length_gain(strategy, shots or 0, fractions[i], modality,
                                                                  post.mean)
            own = 0.0 if fractions is None else self.length_gain(strategy, shots or 0, fractions[i], modality, mean)
            out.append(FinalScore(i, float(o.score), mean, post, gain, own))
        # equal expected scores (e.g. both 1): the one less extrapolated, the higher posterior, first
        return sorted(out, key=lambda f: (-f.expected, -f.posterior.mean, f.index))

    def _on_task(self, observed: Sequence[Observed], situation: Mapping[str, Any],
                 n_examples: int | None) -> tuple[float, list[float], float]:
        """(the task's level, each trial's prior mean on the validation scale, the prior's std on this task)."""
        meta, shots, tf = split_situation(situation)
        preds = self.ranker.relative_scores(meta, shots, tf, [(o.recipe, o.source) for o in observed])
        level = statistics.median(o.score - p for o, p in zip(observed, preds, strict=True))
        means = [min(1.0, max(0.0, level + p)) for p in preds]
        variances = [validation_variance(o.score, n_examples=n_examples, fold_scores=o.fold_scores) for o in observed]
        return level, means, task_prior_std([o.score for o in observed], means, variances, self.ranker.sigma)

    def candidate_score(self, observed: Sequence[Observed], recipe: Any, situation: Mapping[str, Any], *,
                        n_examples: int, source: Mapping[str, float] | None = None) -> Posterior:
        """What a trial of ``recipe`` not run yet is expected to add to :meth:`final_scores`: the preposterior.

        Its prior mean is the task's level (estimated from ``observed`` as in :meth:`final_scores`) plus
        its relative prediction; once its validation score on ``n_examples`` held-out labels is seen, its
        posterior mean is normal around that prior mean with variance ``σ⁴ / (σ² + σv²)`` (σ: the prior's
        std on this task, σv²: the validation variance at the prior mean; the normal-normal model's
        preposterior, e.g. Raiffa & Schlaifer, *Applied Statistical Decision Theory*, 1961). The value of
        running the trial is the expected improvement of that posterior mean over the incumbent's.

        Returns:
            ``mean``: the prior mean; ``std``: the preposterior std; ``weight_prior``: the prior's weight
            its posterior would give it; ``validation_std``: σv.

        Raises:
            ConfigError: no observed trial (the task's level is unknown) or ``n_examples`` < 1.
        """
        return self.candidate_scores(observed, [(recipe, source)], situation, n_examples=n_examples)[0]

    def candidate_scores(self, observed: Sequence[Observed],
                         candidates: Sequence[tuple[Any, Mapping[str, float] | None]], situation: Mapping[str, Any],
                         *, n_examples: int) -> list[Posterior]:
        """:meth:`candidate_score` of each (recipe, its source's transferability) of ``candidates``, in one batch.

        Raises:
            ConfigError: no observed trial (the task's level is unknown) or ``n_examples`` < 1.
        """
        if not observed:
            raise ConfigError("a candidate's score needs at least one observed trial of the task")
        level, _, sigma = self._on_task(observed, situation, n_examples)
        meta, shots, tf = split_situation(situation)
        out = []
        for rel in self.ranker.relative_scores(meta, shots, tf, list(candidates)):
            mean = min(1.0, max(0.0, level + rel))
            var_v = validation_variance(mean, n_examples=n_examples)
            out.append(Posterior(mean, sigma ** 2 / math.sqrt(sigma ** 2 + var_v), var_v / (sigma ** 2 + var_v),
                                 math.sqrt(var_v)))
        return out

    # ---- description and storage
    def describe(self) -> str:
        """One line: where it came from and what it was fitted on."""
        where = f" ({self.path})" if self.path else ""
        gray = "with" if self.has_gray_box else "without"
        gains = f", {self.gains.describe()}" if self.gains is not None else ", without length gains"
        return (f"prior{where}: {len(self.tasks)} tasks, {len(self.candidates())} recipes, fitted on "
                f"{self.table.target}, ranker error ±{self.ranker.sigma:.3f}, {gray} a gray-box model{gains}")

    def to_json(self) -> dict[str, Any]:
        """The whole prior as JSON (the models as their training table; :mod:`._prior_io`)."""
        return _prior_io.encode(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: str | None = None) -> Prior:
        """Rebuild (and refit the ranker) from :meth:`to_json` output.

        Raises:
            DataError: not a warmstart prior, another format version, or malformed.
        """
        return cls(*_prior_io.decode(data, path))

    def save(self, path: str | Path) -> Path:
        """Write the prior as JSON (gzip when the name ends in ``.gz``), atomically; returns the path."""
        return _prior_io.write(self.to_json(), path)

    @classmethod
    def load(cls, path: str | Path) -> Prior:
        """Read a prior written by :meth:`save` (never unpickles).

        Raises:
            DataError: a missing, unreadable or malformed file.
        """
        return cls.from_json(_prior_io.read(path), str(Path(path)))


def _modality(situation: Mapping[str, Any]) -> str | None:
    """The situation's ``modality`` (``image``, ``tabular``, ``text``), or None when it does not say."""
    m = situation.get("modality")
    return m if isinstance(m, str) and m else None


def fit_prior(rows: Iterable[Mapping[str, Any]], *, target: str = "score", config: PriorConfig | None = None,
              base: Prior | None = None, gain_rows: Iterable[Mapping[str, Any]] | None = None) -> Prior:
    """Fit a prior on trial rows (see the module docstring).

    Args:
        rows: Trial rows (:func:`warmstart.knowledge.trials.trial_rows` or the meta-dataset).
        target: ``score`` (validation; the only choice for a user's knowledge base) or a
            ``test_<metric>`` column (only for the shipped prior, fitted on tasks no user runs).
        config: Settings (default :class:`PriorConfig`).
        base: Another prior whose training table is added to the rows' (its tasks prefixed ``base:``),
            e.g. the shipped one under a user's first few tasks. Its target must be the same or a test column.
            Its length gains are kept when ``gain_rows`` gives none.
        gain_rows: Runs of recipes at the trial budget and at full length on tasks no user runs
            (:meth:`LengthGains.fit`, their ``test_accuracy``), e.g. ``benchmarks/results/length_gain/``.

    Raises:
        DataError: fewer than :data:`MIN_TASKS` tasks with two or more scored recipes.
        ConfigError: a bad target or config.
    """
    config = config or PriorConfig()
    check_target(target)
    table = build_table(rows, target)
    if base is not None:
        table = table.merged(base.table)
    tasks = table.comparable_tasks()
    if len(tasks) < MIN_TASKS:
        what = "a labelled validation score" if target == "score" else f"a {target} value"
        raise DataError(f"fitting a prior needs at least {MIN_TASKS} tasks with two or more recipes that have "
                        f"{what}; the trials hold {len(tasks)} (run warmstart auto, tune or search on more tasks)")
    encoder = Encoder.fit(table, config.features)
    ranker = Ranker.fit(table, encoder, tasks, seed=config.seed, kind=config.ranker)
    curves = CurveModel.fit(table, encoder, seed=config.seed)
    scores = {t: v for t, v in table.scores().items() if t in set(tasks)}
    portfolio = greedy_portfolio(scores, size=config.portfolio_size, seconds=table.seconds(),
                                 cost_weight=config.cost_weight)
    gains = LengthGains.fit(gain_rows) if gain_rows is not None else None
    if gains is None and base is not None:
        gains = base.gains
    return Prior(table, config, encoder, ranker, None if curves is None else curves.sigmas, portfolio, tasks,
                 gains, _curves=curves)
