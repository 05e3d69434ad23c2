"""The recipe portfolio of the meta-dataset: every strategy at its defaults, sampled settings, NAS candidates.

* **Labelled strategies**: every registered strategy that needs target labels, except the
  meta-learners (``protonet``, ``maml``: they train episodically on the source task, a different
  protocol) and ``nas_candidate`` (below). ``fixmatch`` needs labels and the pool.
* **Unlabelled strategies**: ``source_only``, ``dann``, ``cdan``, ``mcc``, ``self_training`` — the
  issue's list. ``mmd`` and ``coral`` (feature-alignment cousins of ``dann``) are left out to keep
  the build affordable; ``--strategies`` adds them. They run at every shot level: with labels they
  add the support loss (semi-supervised domain adaptation).
* **Combinations** (:data:`COMBINATIONS`, tier 0 beside the defaults): ``self_training#mcc``,
  self-training with MCC added at weight 1 (Jin et al., ECCV 2020) — the domain-adaptation
  benchmark's method of that name — so the prior can learn where it wins. A candidate of the
  portfolio, not a default: the prior chooses among them on the meta-dataset's tasks.
* **NAS candidates** (``nas_candidate``) around the pretrained source: with S source stages, the
  full depth with S-1 or S-2 stages frozen, and the depth cut to S-1 with none or S-2 frozen.
* Each strategy runs at its defaults and at ``k`` settings sampled from its declared search ranges
  (``Param.search``, :func:`warmstart.search.space.search_space`), drawn once with a seed per
  strategy, so the same sampled recipes recur on every task (a portfolio member is comparable
  across tasks). NAS candidates run at their defaults only.

**Per-run budget** (:data:`BUDGET`, which is ``auto``'s trial budget,
:data:`warmstart.auto.trial_budget.TRIAL_BUDGET`): fixed settings that make one run affordable on a
CPU core, recorded in every recipe's params (so a prior's pick is a recipe that auto runs verbatim): the
fine-tuning family 10 epochs with at least 50 steps (their defaults: 30 epochs, 100 steps), the
domain-adaptation loop 50 steps in one epoch (defaults: 3,000), FixMatch 30
iterations (defaults: 1,000); self-training and FixMatch draw one unlabelled batch per labelled one
(``unlabeled_ratio`` 1, default 3: their weak and strong views of the pool batch dominate a step's
cost). ``linear_probe`` and ``nas_candidate`` are cheap at their defaults.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from warmstart.auto.trial_budget import TRIAL_BUDGET
from warmstart.recipe import Recipe
from warmstart.search.space import search_space
from warmstart.strategies import list_strategies, strategy_class
from warmstart.strategies._meta import MetaLearner
from warmstart.tasks._task import Task

UNLABELLED = ("source_only", "dann", "cdan", "mcc", "self_training")
NAS = "nas_candidate"
SAMPLE_SEED = 16  # the number: the sampled settings are the same in every build
#: named combinations run at tier 0 beside their strategy's default: id → (strategy, params over the default)
COMBINATIONS: dict[str, tuple[str, dict[str, Any]]] = {"self_training#mcc": ("self_training", {"mcc": 1.0})}

#: the per-run budget: auto's trial budget (one table, so the prior's picks are what auto runs)
BUDGET: dict[str, dict[str, Any]] = TRIAL_BUDGET
#: quick mode: seconds, not minutes
QUICK_BUDGET: dict[str, dict[str, Any]] = {
    s: {**b, "epochs": 1, "min_steps": 4} if "min_steps" in b else {**b, "iters_per_epoch": 5}
    if "iters_per_epoch" in b else {**b, "iterations": 5} for s, b in BUDGET.items()}
# nor the search for the source batches' augmentation (embeddings of the source data per operation: most of
# a quick run's seconds)
for _s, _b in QUICK_BUDGET.items():
    if "source_augment" in strategy_class(_s).param_table():
        _b["source_augment"] = "none"
QUICK_MEMBERS = ("finetune#default", "linear_probe#default", "source_only#default")


@dataclass(frozen=True)
class Member:
    """One recipe of the portfolio, apart from its task, source, shots and seed.

    Attributes:
        id: Stable name: ``<strategy>#default``, ``<strategy>#s<i>``, a :data:`COMBINATIONS` name or
            ``nas_candidate#cut<c>-freeze<f>``.
        strategy: Registered strategy name.
        params: Hyperparameters (the per-run budget included).
        architecture: NAS candidate spec, or None.
        tier: 0 for defaults and NAS candidates, 1 for sampled settings (built first: 0, then 1).
    """

    id: str
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    architecture: dict[str, Any] | None = None
    tier: int = 0

    def recipe(self, *, source: str, source_task: str, shots: int, seed: int) -> Recipe:
        """The recipe of this member on one (source, shots, seed)."""
        return Recipe(self.strategy, self.params, source=source, source_task=source_task, shots=shots, seed=seed,
                      architecture=self.architecture)


def labelled_strategies() -> list[str]:
    """Registered strategies that need target labels, without meta-learners and ``nas_candidate``."""
    out = []
    for name in list_strategies():
        cls = strategy_class(name)
        if cls.needs_labels and not issubclass(cls, MetaLearner) and name != NAS:
            out.append(name)
    return out


def _budget_fixed(strategy: str, quick: bool) -> dict[str, Any]:
    return dict((QUICK_BUDGET if quick else BUDGET).get(strategy, {}))


def _draw(dist: BaseDistribution, rng: np.random.Generator) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if isinstance(dist, IntDistribution):
        if dist.log:
            return round(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))))
        return int(rng.integers(dist.low, dist.high + 1))
    assert isinstance(dist, FloatDistribution)
    lo, hi = dist.low, dist.high
    v = math.exp(rng.uniform(math.log(lo), math.log(hi))) if dist.log else rng.uniform(lo, hi)
    return min(max(float(f"{v:.3g}"), lo), hi)  # 3 significant digits: readable recipes


def sampled_params(strategy: str, k: int, fixed: dict[str, Any]) -> list[dict[str, Any]]:
    """``k`` settings of ``strategy``'s searchable parameters not in ``fixed`` (seeded per strategy).

    ``iterations`` is not sampled when ``iters_per_epoch`` is fixed (it would change nothing).
    """
    skip = set(fixed) | ({"iterations"} if fixed.get("iters_per_epoch") else set())
    try:
        space = search_space(strategy, skip)
    except Exception:  # nothing left to tune
        return []
    rng = np.random.default_rng([SAMPLE_SEED, zlib.crc32(strategy.encode())])
    return [{name: _draw(d, rng) for name, d in sorted(space.items())} for _ in range(k)]


def members(k_sampled: int = 3, *, quick: bool = False, strategies: list[str] | None = None) -> list[Member]:
    """The task-independent portfolio: defaults and :data:`COMBINATIONS` (tier 0) and sampled settings
    (tier 1) per strategy.

    NAS candidates depend on the source's depth: :func:`nas_members`.
    """
    names = [*labelled_strategies(), *UNLABELLED] if strategies is None else list(strategies)
    out: list[Member] = []
    for s in names:
        if s == NAS:
            continue
        fixed = _budget_fixed(s, quick)
        out.append(Member(f"{s}#default", s, fixed))
        out += [Member(cid, s, {**fixed, **extra}) for cid, (cs, extra) in COMBINATIONS.items() if cs == s]
        for i, p in enumerate(sampled_params(s, k_sampled, fixed), start=1):
            out.append(Member(f"{s}#s{i}", s, {**fixed, **p}, tier=1))
    if quick and strategies is None:
        out = [m for m in out if m.id in QUICK_MEMBERS]
    return out


def nas_members(n_stages: int) -> list[Member]:
    """NAS candidates around a source with ``n_stages`` stages: frozen stages and a cut depth
    (:func:`warmstart.auto.arch.nas_specs`, the same candidates ``auto`` searches)."""
    from warmstart.auto.arch import nas_specs

    specs = nas_specs(n_stages)
    return [Member(f"{NAS}#cut{c}-freeze{f}", NAS, {}, {"cut": c, "freeze": f}) for c, f in specs]


def applicable(portfolio: list[Member], task: Task) -> tuple[list[Member], list[str]]:
    """The members that can run on ``task`` (a few-shot cut), and why the others cannot.

    The same verdict as ``auto``'s (:func:`warmstart.auto.prior_plan.applicable_strategies`, with
    source data: every target here has a source task): without labels only the unlabelled strategies
    run; methods that need the pool are checked for pool size and modality.
    """
    from warmstart.auto.prior_plan import applicable_strategies

    runnable, reasons = applicable_strategies(task, labels_per_class=task.shots or 0, has_source_data=True)
    allowed = set(runnable)
    return [m for m in portfolio if m.strategy in allowed], reasons


#: strategies whose recipe changed after runs of it were recorded: (revision, what changed). The revision
#: is part of the unit key, so their runs are done again, and the runs of an older revision leave the
#: table (:func:`is_current`; they stay in the storage)
_SOURCE_AUGMENT = ("2026-11-30: the adaptation loop augments the source images toward the target by default "
                   "(source_augment auto, chosen by the proxy A-distance to the pool)")
_LOGLOSS = ("2026-12-01: source_augment auto lowers the log-loss divergence (source_augment_divergence logloss, "
            "was pad): the proxy A-distance saturates at 2.0 on separable domains")
REVISION: dict[str, tuple[int, str]] = {
    **{s: (4, f"{_LOGLOSS}; revision 3: {_SOURCE_AUGMENT}; revision 2: it keeps the source classifier "
              "(bottleneck 0, was 256)")
       for s in ("source_only", "dann", "cdan", "mmd", "coral", "mcc")},
    "self_training": (4, f"{_LOGLOSS}; revision 3: {_SOURCE_AUGMENT}"),
}


#: every run from a tabular source: (revision, what changed); part of those runs' unit keys, as :data:`REVISION`
TABULAR_REVISION = (2, "2026-12-05: the target's rows are standardized as the source's table was (the source "
                       "model's feature scaler), not by the target's own train split")


def is_table(task: str | None) -> bool:
    """Whether ``task`` names a built-in table (a half, a class subset): its runs carry :data:`TABULAR_REVISION`."""
    from warmstart.tasks._builtin import builtin_modality

    return task is not None and builtin_modality(task) == "tabular"


def unit_key(recipe: Recipe, *, current: bool = True) -> str:
    """What identifies a run within its (task, shots) study: the recipe without where the checkpoint lies,
    its strategy's :data:`REVISION` when it has one, and :data:`TABULAR_REVISION` for a tabular source.

    The checkpoint folder is left out so a moved work folder still resumes; ``source_task`` names the source.
    ``current=False`` gives the key at revision 1 (no revision field), what runs recorded before a strategy's
    first revision carry.
    """
    data: dict[str, Any] = recipe.to_json()
    for k in ("source", "source_spec", "weights"):
        data.pop(k, None)
    if current and recipe.strategy in REVISION:
        data["revision"] = REVISION[recipe.strategy][0]
    if current and is_table(recipe.source_task):
        data["tabular_revision"] = TABULAR_REVISION[0]
    return json.dumps(data, sort_keys=True)


def is_current(unit: Any) -> bool:
    """Whether a recorded unit key is of its strategy's current revision (runs without a key count as current)."""
    if not isinstance(unit, str):
        return True
    try:
        data = json.loads(unit)
    except ValueError:
        return True
    rev = REVISION.get(str(data.get("strategy")))
    if int(data.get("revision", 1)) != (rev[0] if rev else 1):
        return False
    source_task = data.get("source_task")
    if isinstance(source_task, str) and is_table(source_task):
        return int(data.get("tabular_revision", 1)) == TABULAR_REVISION[0]
    return True
