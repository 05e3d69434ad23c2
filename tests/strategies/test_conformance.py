"""Conformance of every registered strategy (runs over the registry, so new strategies are tested too).

Each strategy: constructs with defaults, rejects an unknown option and out-of-range values
with the valid range, cites a paper, round-trips get_params/set_params, fits on a tiny
few-shot digits task from the shared source within a tiny budget, reports its head use,
and predicts valid probabilities.
"""

from __future__ import annotations

import pytest
import torch

from warmstart.errors import ConfigError
from warmstart.strategies import get_strategy, list_strategies, strategy_class
from warmstart.tasks import Task

NAMES = list_strategies()


@pytest.mark.parametrize("name", NAMES)
def test_contract(name: str) -> None:
    cls = strategy_class(name)
    s = cls()
    assert cls.paper and len(cls.paper) > 10, f"{name} must cite its paper"
    assert cls.__doc__ and cls.summary
    params = s.get_params()
    assert set(params) == set(cls.param_table())
    clone = cls(**params)
    assert clone.get_params() == params
    with pytest.raises(ConfigError, match="valid"):
        cls(definitely_not_an_option=1)
    with pytest.raises(ConfigError, match="valid"):
        s.set_params(definitely_not_an_option=1)
    for key, p in cls.param_table().items():
        if p.kind in ("int", "float") and p.low is not None:
            with pytest.raises(ConfigError, match="range"):
                cls(**{key: p.low - 1})
        if p.choices is not None:
            with pytest.raises(ConfigError, match="choose one of"):
                cls(**{key: "__nope__"})
    with pytest.raises(ConfigError, match="range"):
        cls(lr=-1.0)
    s.set_params(seed=3)
    assert s.get_params()["seed"] == 3 and s.seed == 3
    with pytest.raises(ConfigError, match="not fitted"):
        s.predict(torch.zeros(1, 1, 28, 28))


@pytest.mark.parametrize("name", NAMES)
def test_fits_few_shot_digits(name: str, make_source, tiny_budget, tiny_target: Task,  # type: ignore[no-untyped-def]
                              tiny_source_task_name: str) -> None:
    cls = strategy_class(name)
    source = make_source(tiny_source_task_name if cls.needs_source_task else None)
    task = tiny_target
    if cls.needs_unlabeled:
        assert task.has_unlabeled
    s = get_strategy(name, **tiny_budget(cls.param_table()))
    assert s.fit(task, source) is s
    assert isinstance(s.info_, dict) and s.info_.get("strategy") == name
    assert s.info_.get("head") in ("reuse", "new"), f"{name} must report its head use in info_"
    proba = s.predict_proba(task.x_test)
    assert proba.shape == (len(task.y_test), task.n_classes)
    assert torch.isfinite(proba).all() and (proba >= 0).all()
    assert torch.allclose(proba.sum(1), torch.ones(len(proba)), atol=1e-4)
    acc = s.score(task.x_test, task.y_test)
    assert 0.0 <= acc <= 1.0
    assert s.fit_seconds_ > 0


@pytest.mark.ci_may_skip
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", NAMES)
def test_fits_on_cuda(name: str, make_source, tiny_budget, tiny_target: Task,  # type: ignore[no-untyped-def]
                      tiny_source_task_name: str) -> None:
    """Every strategy trains and predicts on a GPU (tensors kept on the CPU by a strategy fail here)."""
    cls = strategy_class(name)
    source = make_source(tiny_source_task_name if cls.needs_source_task else None)
    budget = {**tiny_budget(cls.param_table()), **({"device": "cuda"} if "device" in cls.param_table() else {})}
    s = get_strategy(name, **budget).fit(tiny_target, source)
    proba = s.predict_proba(tiny_target.x_test[:16])
    assert proba.shape == (16, tiny_target.n_classes) and torch.isfinite(proba).all()


@pytest.mark.parametrize("name", ["scratch", "finetune", "linear_probe", "gradual_unfreeze", "l2sp"])
def test_history_has_one_shape(name: str, pretrained_source) -> None:  # type: ignore[no-untyped-def]
    """``history_`` is a History with per-epoch logs for every strategy (it was a History, a dict or a list)."""
    from warmstart.engine.trainer import History
    from warmstart.source import Source
    from warmstart.tasks import get_task

    task = get_task("digits").few_shot(2, seed=0)
    strat = get_strategy(name, epochs=2, min_steps=1, progress=False).fit(task, Source(path=pretrained_source))
    assert isinstance(strat.history_, History), (name, type(strat.history_))
    assert strat.history_.epochs, name
