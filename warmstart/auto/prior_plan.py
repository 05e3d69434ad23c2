"""What the prior plans for an auto run: which strategies can run, and the first trials with their reasons.

With a prior (:mod:`warmstart.knowledge.prior`: a cost-aware ranker of recipes learned from
earlier runs; ZAP, Öztürk et al., ICML 2022; Quick-Tune, Arango et al., ICLR 2024) ``auto``
replaces its hand-written rules (:mod:`warmstart.auto.situation`) this way:

* the strategies of the joint space are every strategy that *can run* on the task
  (:func:`applicable_strategies`): target labels or not, source data or not, an unlabelled
  pool large enough for the pool methods and the right modality (the rules' own
  :func:`~warmstart.auto.situation.pool_methods` check), plus ``nas_candidate`` with its
  architecture as a parameter when the task has labels (:mod:`warmstart.auto.arch`); the
  episodic meta-learners (``protonet``, ``maml``) are left out, as the meta-dataset leaves them out;
* the prior ranks its recipes of those strategies for the task's situation (meta-features,
  shots) and each source's LogME/LEEP, best predicted score minus λ·log10(seconds) first, so
  a cheap recipe that is nearly as good comes first; each score adds what the recipe's final fit
  is expected to gain from its length (its length gain for as far toward its full length as a
  time budget's final-fit share gets: :func:`final_reach`); the first :data:`K_PICKS` (never more than
  a trial budget) become the study's first trials (:func:`pick_config` maps each onto the joint
  space), each with its prediction and why in the notes.

The hand-written rules stay the fallback when no prior applies (:func:`resolve_prior`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.distributions import BaseDistribution

from warmstart.auto.arch import ARCH, NAS, arch_text, nas_archs, source_stages
from warmstart.auto.final_fit import FINAL_SHARE, fixes_length, length_fraction
from warmstart.auto.situation import pool_methods
from warmstart.auto.trial_budget import trial_budget
from warmstart.errors import ConfigError
from warmstart.knowledge._prior_table import RecipeSpec
from warmstart.knowledge.prior import Pick, Prior
from warmstart.knowledge.prior_files import NO_PRIOR, load_prior
from warmstart.search.budget import Budget
from warmstart.tasks._task import Task, n_items
from warmstart.validation import trial_fits

#: most prior picks queued as the first trials
K_PICKS = 3
PRIOR_OFF = "no prior: turned off (prior 'none'), so the strategies come from the hand-written rules"


def resolve_prior(prior: str | Path | Prior | None) -> tuple[Prior | None, str | None]:
    """The prior ``auto`` uses, and the note to give when it uses none.

    Args:
        prior: ``"auto"`` (:func:`~warmstart.knowledge.prior.load_prior`: the user's prior, else the
            shipped one, else none), ``"none"`` or None (the hand-written rules), a prior file, or a Prior.

    Raises:
        DataError: a prior file that is missing, unreadable or not a warmstart prior.
        ConfigError: a value of another type.
    """
    if isinstance(prior, Prior):
        return prior, None
    if prior is None or prior == "none":
        return None, PRIOR_OFF
    if prior == "auto":
        found = load_prior()
        return found, None if found is not None else NO_PRIOR
    if isinstance(prior, (str, Path)):
        return load_prior(prior), None
    raise ConfigError(f"prior must be 'auto', 'none', a prior file or a Prior, got {type(prior).__name__}")


def applicable_strategies(task: Task, *, labels_per_class: int, has_source_data: bool,
                          allowed: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """The strategies that can run on ``task`` (see the module docstring) and why the others cannot.

    ``allowed`` restricts them as the rules do (the requested ones that are applicable, else all requested).
    """
    from warmstart.strategies import list_strategies, strategy_class
    from warmstart.strategies._meta import MetaLearner

    kept: list[str] = []
    out: dict[str, list[str]] = {}
    reasons: list[str] = []
    for name in list_strategies():
        cls = strategy_class(name)
        if issubclass(cls, MetaLearner):
            out.setdefault("episodic meta-learners, another protocol", []).append(name)
        elif cls.needs_labels and labels_per_class == 0:
            out.setdefault("they need target labels", []).append(name)
        elif cls.needs_source_task and not has_source_data:
            out.setdefault("they need source data (--source-task)", []).append(name)
        elif cls.needs_unlabeled and not task.has_unlabeled:
            out.setdefault("they need an unlabelled pool", []).append(name)
        elif cls.needs_unlabeled:
            fits, why = pool_methods(task, (name,))
            kept += fits
            reasons += why
        else:
            kept.append(name)
    reasons = [f"left out {', '.join(names)}: {why}" for why, names in out.items()] + reasons
    if allowed is not None:
        kept = [s for s in kept if s in allowed] or list(allowed)
        reasons.append(f"restricted to the requested strategies {kept}")
    return kept, reasons


def source_features(sources: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Source name → the ranked source's transferability scores as the prior reads them: LogME, LEEP and the
    domain gap to the task's pool (``tf_gap``, the meta-dataset's ``src_gap``:
    :func:`warmstart.auto.situation.domain_gap`).

    The prior is fitted with every one of them its training rows hold; one left out here is imputed with its
    training median, and the prior cannot tell a source close to the task from one far from it.
    """
    return {s.name: {k: float(v) for k, v in (("logme", s.logme), ("leep", s.leep), ("tf_gap", s.gap))
                     if v is not None}
            for s in sources}


def pick_config(pick: Pick, space: Mapping[str, BaseDistribution],
                default_source: str) -> tuple[dict[str, Any], list[str]]:
    """A prior pick as a configuration of the joint space (for ``study.enqueue_trial``), and what was changed.

    The source is the pick's (``default_source`` when it names none or one outside the space);
    each ``STRATEGY.PARAM`` of the space takes the pick's value when the distribution contains it,
    else the strategy's default (a recipe's unset parameters are its defaults), else it is left to
    the sampler; parameters the space does not search (fixed settings such as ``epochs``) are
    dropped. ``nas_candidate.arch`` takes the pick's architecture.
    """
    from warmstart.auto.search import _contains
    from warmstart.strategies import strategy_class

    strat = pick.spec.strategy
    sources = list(getattr(space["source"], "choices", ()))
    cfg: dict[str, Any] = {"source": pick.source if pick.source in sources else default_source, "strategy": strat}
    table = strategy_class(strat).param_table()
    changed: list[str] = []
    for name, dist in space.items():
        if not name.startswith(strat + "."):
            continue
        param = name[len(strat) + 1:]
        if strat == NAS and param == ARCH:
            arch = pick.spec.architecture
            value = arch_text(arch) if arch else None
            if value is not None and _contains(dist, value):
                cfg[name] = value
            else:
                changed.append(f"architecture {value} is not a candidate of this source")
            continue
        default = table[param].default if param in table else None
        if param in pick.spec.params and _contains(dist, pick.spec.params[param]):
            cfg[name] = pick.spec.params[param]
            continue
        if param in pick.spec.params:
            changed.append(f"{param}={pick.spec.params[param]!r} is outside the searched range")
        if default is not None and _contains(dist, default):
            cfg[name] = default
    return cfg, changed


def final_reach(budget: Budget, n_labelled: int, overrides: Mapping[str, Any] | None = None,
                folds: int = 1) -> Callable[[RecipeSpec, float | None], float] | None:
    """How far a recipe's final fit would get toward its full length in ``budget`` (for :meth:`Prior.suggest`).

    The search keeps at most :data:`~warmstart.auto.final_fit.FINAL_SHARE` of a time budget for the
    winner's final fit, so a recipe whose trial is predicted to take s seconds reaches
    :func:`~warmstart.auto.final_fit.length_fraction` of its full length in that share (a recipe
    without predicted seconds: all of it), one fit on every label taking s / ``folds`` (a trial fits
    each of the protocol's ``folds``; :func:`warmstart.validation.trial_fits`). Scaling the whole
    k-fold trial instead overstated the full length's seconds: over the 115 recipes and cells of the
    length-gain benchmark with a longer full length (``benchmarks/results/length_gain``; their trial
    seconds from the meta-dataset), 4.2 times at the median (quartiles 2.8–5.7); the trial's seconds over its
    folds, 1.4 times (0.9–1.9: the rest is a fit's fixed part, which does not grow with the steps). A trial
    budget has no time limit: None (the whole gain).
    """
    if budget.seconds is None:
        return None
    left = FINAL_SHARE * float(budget.seconds)
    per_fit = max(1, folds)

    def reach(spec: RecipeSpec, seconds: float | None) -> float:
        trial = {**spec.params, **trial_budget(spec.strategy)}  # as its trial runs (the search fixes these)
        return length_fraction(spec.strategy, trial, dict(overrides or {}), n_labelled,
                               None if seconds is None else seconds / per_fit, left)

    return reach


@dataclass
class PriorPlan:
    """The prior's plan for one auto run.

    Attributes:
        prior: The prior.
        situation: What the prior is told of the task: its meta-features, ``shots`` and ``modality``.
        sources: Source name → its transferability scores.
        strategies: The applicable strategies (the joint space's).
        archs: The ``nas_candidate.arch`` choices (JSON texts), or None.
        picks: The prior's picks, best first (those queued as the first trials).
        configs: Each pick as a joint-space configuration (same order).
        order: Every recipe the prior ranked for the task, as a joint-space configuration, best first (the picks
            are its first ones).
        notes: One line per pick (prediction and why), and what was left out or changed.
        reasons: Why strategies were left out.
    """

    prior: Prior
    situation: dict[str, Any]
    sources: dict[str, dict[str, float]]
    strategies: list[str]
    archs: list[str] | None
    picks: list[Pick] = field(default_factory=list)
    configs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    order: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``result["prior"]``: used, where the prior came from, and the picks with their configurations."""
        return {"used": True, "describe": self.prior.describe(), "strategies": self.strategies, "archs": self.archs,
                "picks": [{**p.to_json(), "label": p.spec.describe(), "config": c}
                          for p, c in zip(self.picks, self.configs, strict=True)]}


def plan_with_prior(prior: Prior, task: Task, meta: Mapping[str, float], sources: Sequence[Any], *,
                    labels_per_class: int, has_source_data: bool, budget: Budget,
                    allowed: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None) -> PriorPlan:
    """The applicable strategies and the prior's first picks for ``task`` (see the module docstring).

    Args:
        prior: The prior.
        task: The target task (its few-shot cut).
        meta: Its meta-features (:func:`warmstart.knowledge.metafeatures.meta_features`).
        sources: The ranked sources entering the search (``RankedSource``), best first.
        labels_per_class: The fewest labels of a class (0: none).
        has_source_data: Whether a source brings its task's data.
        budget: The budget (a trial budget caps the picks).
        allowed: The strategies the user restricted auto to, or None.
        overrides: Hyperparameters fixed for every strategy (they leave the joint space).
    """
    from warmstart.auto.search import joint_space

    strategies, reasons = applicable_strategies(task, labels_per_class=labels_per_class,
                                                has_source_data=has_source_data, allowed=allowed)
    stages = source_stages(sources) if NAS in strategies else None
    archs = nas_archs(stages) if stages else None
    plan = PriorPlan(prior, {**meta, "shots": task.shots, "modality": task.modality}, source_features(sources),
                     strategies, archs,
                     reasons=reasons)
    if not strategies:
        return plan
    space = joint_space(strategies, list(sources), dict(overrides or {}), archs)
    cands = [c for c in prior.candidates(strategies)
             if c.strategy != NAS or (archs and c.architecture and arch_text(c.architecture) in archs)]
    k = K_PICKS if budget.trials is None else min(K_PICKS, budget.trials)
    # auto retrains its winner at full length (unless the user fixed one), or as far toward it as the time allows:
    # rank what it would return
    full = not fixes_length(dict(overrides or {}))
    ranked = (prior.suggest(plan.situation, k=len(cands), sources=plan.sources, candidates=cands, full_length=full,
                            reach=final_reach(budget, n_items(task.x_train), overrides, trial_fits(task)))
              if cands else [])
    for pick in ranked:
        cfg, changed = pick_config(pick, space, sources[0].name)
        if cfg in plan.order:  # two recipes that differ only in settings the search fixes
            continue
        plan.order.append(cfg)
        if len(plan.picks) >= k:
            continue
        plan.picks.append(pick)
        plan.configs.append(cfg)
        n = len(plan.picks)
        plan.notes.append(f"prior pick {n}: {pick.spec.describe()} from {cfg['source']}: {pick.why}"
                          + (f" ({'; '.join(changed)})" if changed else ""))
    if not plan.picks:
        plan.notes.append(f"the prior has no recipe of the applicable strategies ({', '.join(strategies)}): "
                          "the first trials are chosen as without a prior")
    return plan
