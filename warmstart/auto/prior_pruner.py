"""Gray-box pruning of auto's trials from their first epochs (Quick-Tune, Arango et al., ICLR 2024).

The prior's curve model (:meth:`warmstart.knowledge.prior.Prior.should_stop`) predicts a trial's
final score from the per-epoch validation metric it has reported so far (the first fold's, the
same curve the prior was fitted on); when that prediction plus one standard deviation is below
the best completed trial of the study, the trial is pruned and its user attribute ``pruned_by``
says why. Otherwise the decision is left to the wrapped pruner (auto's Hyperband pruner; Li et
al., JMLR 2018). With no completed trial yet, or a prior without a gray-box model, only the
wrapped pruner decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import WarmstartError
from warmstart.knowledge.prior import Prior

#: user attribute of a trial the gray-box model stopped
PRUNED_BY = "pruned_by"


class PriorPruner(optuna.pruners.BasePruner):
    """Prune a trial whose predicted final score cannot reach the incumbent (see the module docstring).

    Args:
        prior: The prior (its gray-box model is used when it has one).
        situation: What is known of the task (meta-features, ``shots``), as for :meth:`Prior.suggest`.
        sources: Source name → its transferability scores (``logme``, ``leep``).
        fallback: The pruner that decides otherwise.
        z: Standard deviations of optimism granted to the trial.
    """

    def __init__(self, prior: Prior, situation: Mapping[str, Any], sources: Mapping[str, Mapping[str, float]],
                 fallback: optuna.pruners.BasePruner, z: float = 1.0) -> None:
        self.prior, self.situation, self.sources = prior, dict(situation), dict(sources)
        self.fallback, self.z = fallback, z

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """True when the gray-box model says stop, else the fallback's answer."""
        if self._gray_box_stops(study, trial):
            return True
        return self.fallback.prune(study, trial)

    def _gray_box_stops(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        recipe = trial.user_attrs.get("recipe")
        curve = [float(v) for _, v in sorted(trial.intermediate_values.items()) if math.isfinite(float(v))]
        if not self.prior.has_gray_box or not isinstance(recipe, Mapping) or not curve:
            return False
        done = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.value is not None and math.isfinite(t.value)]
        if not done:
            return False
        incumbent = max(done)
        source = str(trial.user_attrs.get("source_used", trial.params.get("source", "")))
        features = {**self.situation, **self.sources.get(source, {})}
        try:
            mean, std = self.prior.predict_final(curve, recipe, features)
        except WarmstartError:  # a recipe the prior cannot read: no gray-box verdict
            return False
        if mean + self.z * std >= incumbent:
            return False
        why = (f"gray-box prior: after {len(curve)} epoch(s) (last {curve[-1]:.4f}) the predicted final score "
               f"{mean:.4f} ± {std:.4f} is below the best completed trial's {incumbent:.4f}")
        study._storage.set_trial_user_attr(trial._trial_id, PRUNED_BY, why)
        return True
