"""The training budget of one trial: fixed settings shared by ``auto``'s trials and the meta-dataset.

``auto`` spends its time budget on many trials, so each trial trains on a fixed, affordable
budget rather than the strategy's defaults. The meta-dataset that the shipped prior is fitted on
(``benchmarks/meta_dataset.py``) runs its recipes with exactly these settings, so a pick of the
prior is a recipe whose score *and seconds* the prior has seen, and a prediction refers to what
``auto`` then runs (before, auto ran 120-step adaptation trials where the prior had seen 50-step
ones, and its first pick could overrun the share of the budget it was given).

* fine-tuning family: 10 epochs, at least 50 steps (defaults: 30 epochs, 100 steps);
* the domain-adaptation loop (``source_only``, ``dann``, ``cdan``, ``mmd``, ``coral``, ``mcc``,
  ``self_training``): 50 steps in one epoch (defaults: 3,000 steps);
* ``self_training`` and ``fixmatch`` draw one unlabelled batch per labelled one (``unlabeled_ratio``
  1, default 3: the weak and strong views of the pool batch dominate a step's cost); ``fixmatch``
  30 iterations (default 1,000).

``linear_probe`` and ``nas_candidate`` are cheap at their defaults. A user's ``--params`` override
these (:func:`warmstart.auto.search.fixed_params`). The trials only rank recipes: auto's winner
is retrained at its strategy's full length when the time allows (:mod:`warmstart.auto.final_fit`).
"""

from __future__ import annotations

from typing import Any

_FINETUNE = {"epochs": 10, "min_steps": 50}
_ADAPTATION = {"epochs": 1, "iters_per_epoch": 50}

#: strategy → settings fixed in every trial (and in every meta-dataset run)
TRIAL_BUDGET: dict[str, dict[str, Any]] = {
    **{s: _FINETUNE for s in ("scratch", "finetune", "gradual_unfreeze", "l2sp", "llrd", "bss", "lora",
                              "multitask")},
    **{s: _ADAPTATION for s in ("source_only", "dann", "cdan", "mmd", "coral", "mcc")},
    "self_training": {**_ADAPTATION, "unlabeled_ratio": 1},
    "fixmatch": {"epochs": 1, "iterations": 30, "unlabeled_ratio": 1},
}


def trial_budget(strategy: str) -> dict[str, Any]:
    """A copy of the settings fixed in every trial of ``strategy`` (empty when it runs at its defaults)."""
    return dict(TRIAL_BUDGET.get(strategy, {}))
