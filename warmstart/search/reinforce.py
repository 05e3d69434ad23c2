"""A REINFORCE controller as an Optuna sampler (Zoph & Le, ICLR 2017).

The policy is a set of independent categorical distributions, one per
architecture decision (the paper's LSTM is replaced by independent
categoricals, as its notes allow). Reward R = −objective (the study
minimizes). After each COMPLETE trial the logits θ take one gradient-ascent
step on (R − b)·Σ log π(a) + β·H(π), with b an exponential moving average of
past rewards (the baseline) and H the policy's entropy (a bonus against early
collapse).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from warmstart.search.nas_space import Space


class ReinforceSampler(BaseSampler):
    """REINFORCE over a :class:`Space` (single objective).

    Args:
        space: The architecture space.
        lr: Learning rate of the policy logits.
        baseline_decay: EMA decay of the reward baseline (b ← d·b + (1−d)·R).
        entropy_weight: β, weight of the entropy bonus.
        seed: Seed of the sampler.
    """

    def __init__(self, space: Space, lr: float = 0.3, baseline_decay: float = 0.8,
                 entropy_weight: float = 0.01, seed: int | None = None) -> None:
        self.space = space
        self.lr, self.decay, self.beta = lr, baseline_decay, entropy_weight
        self.logits = {k: torch.zeros(len(v), requires_grad=True) for k, v in space.choices.items()}
        self.optimizer = torch.optim.Adam(list(self.logits.values()), lr=lr)
        self.baseline: float | None = None
        self._gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self._random = RandomSampler(seed=seed)
        self.updates = 0

    def reseed_rng(self) -> None:
        self._gen.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.space.distributions())

    def probabilities(self) -> dict[str, list[float]]:
        """The current policy, decision by decision."""
        return {k: torch.softmax(v.detach(), 0).tolist() for k, v in self.logits.items()}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _ in range(100):
            for k, dist in search_space.items():
                if k not in self.logits or not isinstance(dist, CategoricalDistribution):
                    continue
                p = torch.softmax(self.logits[k].detach(), 0)
                i = int(torch.multinomial(p, 1, generator=self._gen))
                out[k] = self.space.choices[k][i]
            if self.space.allowed(out):
                break
        return out

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        if state != TrialState.COMPLETE or not values or not math.isfinite(values[0]):
            return
        reward = -float(values[0]) if study.direction == StudyDirection.MINIMIZE else float(values[0])
        self.update(trial.params, reward)

    def update(self, params: dict[str, Any], reward: float) -> float:
        """One REINFORCE step for the sampled ``params`` with ``reward``; returns the advantage."""
        b = reward if self.baseline is None else self.baseline
        adv = reward - b
        logp = torch.zeros(())
        entropy = torch.zeros(())
        for k, logits in self.logits.items():
            lp = torch.log_softmax(logits, 0)
            entropy = entropy - (lp.exp() * lp).sum()
            if k in params and params[k] in self.space.choices[k]:
                logp = logp + lp[self.space.choices[k].index(params[k])]
        loss = -(adv * logp + self.beta * entropy)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.baseline = b * self.decay + (1 - self.decay) * reward
        self.updates += 1
        return adv
