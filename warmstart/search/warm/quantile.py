"""``quantile``: Gaussian-copula transfer with Thompson sampling (CTS).

Salinas, Shen, Perrone, "A Quantile-based Approach for Hyperparameter
Transfer Learning", ICML 2020. Each source task's scores are mapped to
z = Φ⁻¹(F̂(y)) with its empirical CDF F̂, so tasks with different scales become
comparable. One model, an MLP with a mean and a variance output trained with
the Gaussian negative log-likelihood, learns z given the configuration on all
source data. For the first ``n_prior`` trials of the target,
:class:`QuantileSampler` draws random candidates over the whole continuous
space (so it proposes configurations that are in no source table), samples
one z per candidate from the model's predictive normal (Thompson sampling)
and proposes the best. Later trials go to the base sampler (TPE), which then
sees the target's own observations (a simplification of the paper's GC3P,
where the copula model becomes a GP's prior mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from torch import nn

from warmstart.search._encode import decode, encode, random_unit
from warmstart.search.warm._base import WarmStart, tpe
from warmstart.search.warm._sources import SourceTask


class CopulaModel(nn.Module):
    """MLP of the copula score: configuration (unit cube) → (mean, log variance)."""

    def __init__(self, d_in: int, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.out = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.out(self.body(x))
        return h[:, 0], h[:, 1].clamp(-8.0, 4.0)


def fit_copula_model(sources: list[SourceTask], space: dict[str, BaseDistribution], seed: int = 0,
                     steps: int = 300) -> CopulaModel | None:
    """Fit the copula model on every source's (configuration, z) pairs; None without data."""
    xs, zs = [], []
    for s in sources:
        z = s.copula_scores()
        for c, v in zip(s.configs, z, strict=True):
            xs.append(encode(c, space))
            zs.append(v)
    if len(xs) < 2:
        return None
    gen = torch.Generator().manual_seed(seed)
    x = torch.tensor(np.stack(xs), dtype=torch.float32)
    y = torch.tensor(np.asarray(zs), dtype=torch.float32)
    model = CopulaModel(x.shape[1])
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / max(1, p.shape[-1])) ** 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.GaussianNLLLoss()
    for _ in range(steps):
        mu, logvar = model(x)
        loss = loss_fn(mu, y, logvar.exp())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


class QuantileSampler(BaseSampler):
    """Copula Thompson sampling for the first ``n_prior`` trials, then ``base``.

    Args:
        sources: Source tasks.
        space: The target's search space.
        seed: Seed for the model and the candidates.
        n_prior: Trials proposed by the copula model.
        n_candidates: Random candidates per proposal.
        base: Sampler used afterwards (default TPE).
        model: An already fitted :class:`CopulaModel` for these sources (skips fitting).
    """

    def __init__(self, sources: list[SourceTask], space: dict[str, BaseDistribution], seed: int | None = None,
                 n_prior: int = 10, n_candidates: int = 2000, base: BaseSampler | None = None,
                 model: CopulaModel | None = None) -> None:
        self.space, self.n_prior, self.n_candidates = dict(space), n_prior, n_candidates
        self.rng = np.random.default_rng(seed)
        self.model = model if model is not None else fit_copula_model(sources, self.space, seed=seed or 0)
        self.base = base or tpe(seed)

    def _active(self, study: Study) -> bool:
        if self.model is None:
            return False
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                        TrialState.RUNNING))
        return len(done) <= self.n_prior  # the running trial itself is included

    def propose(self) -> dict[str, Any]:
        """One configuration by Thompson sampling from the copula model."""
        assert self.model is not None
        u = random_unit(self.rng, self.n_candidates, self.space)
        with torch.no_grad():
            mu, logvar = self.model(torch.tensor(u, dtype=torch.float32))
        draw = mu.numpy() + np.exp(0.5 * logvar.numpy()) * self.rng.standard_normal(len(u))
        return decode(u[int(np.argmax(draw))], self.space)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if not self._active(study):
            return self.base.infer_relative_search_space(study, trial)
        return dict(self.space)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not self._active(study):
            return self.base.sample_relative(study, trial, search_space)
        if not search_space:
            return {}
        cfg = self.propose()
        return {k: v for k, v in cfg.items() if k in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: Any, values: Any) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.rng = np.random.default_rng()
        self.base.reseed_rng()


def quantile(sources: list[SourceTask], space: dict[str, BaseDistribution], seed: int | None,
             n_prior: int = 10) -> WarmStart:
    """Copula Thompson sampling from every source, then TPE."""
    n = sum(len(s.configs) for s in sources)
    sampler = QuantileSampler(sources, space, seed=seed, n_prior=n_prior,
                              base=tpe(seed, n_startup_trials=n_prior))
    return WarmStart("quantile", sampler, [],
                     f"quantile: copula model fit on {n} trials of {len(sources)} tasks; Thompson sampling for "
                     f"{n_prior} trials, then TPE")
