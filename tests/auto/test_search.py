"""auto's trial settings: the pool methods' trials are pinned short like the other adaptation methods', the
pinned settings leave the search space, and a user's fixed options win over them."""

from __future__ import annotations

from warmstart.auto.search import default_configs, fixed_params
from warmstart.search.space import search_space
from warmstart.strategies import strategy_class


def _steps(strategy: str, fixed: dict[str, int]) -> int:
    table = strategy_class(strategy).param_table()
    value = {k: p.default for k, p in table.items()} | fixed
    if "iters_per_epoch" in table and value["iters_per_epoch"] > 0:
        return int(value["iters_per_epoch"] * value["epochs"])
    return int(value["iterations"])


def test_pool_trials_are_short_like_the_adaptation_trials() -> None:
    assert fixed_params("mcc") == fixed_params("self_training") == fixed_params("dann")
    da_steps = _steps("dann", fixed_params("dann"))
    for name in ("mcc", "self_training", "fixmatch"):
        default = _steps(name, {})
        trial = _steps(name, fixed_params(name))
        assert trial <= da_steps < default, (name, trial, da_steps, default)
        assert not set(fixed_params(name)) & set(search_space(name, fixed_params(name)))  # pinned: not searched
    assert fixed_params("fixmatch")["epochs"] > 1  # more than one epoch: a time budget can cut between them


def test_user_options_win_over_the_trial_settings() -> None:
    assert fixed_params("fixmatch", {"iterations": 7, "iters_per_epoch": 2})["iterations"] == 7  # not its option
    assert "iters_per_epoch" not in fixed_params("fixmatch", {"iters_per_epoch": 2})
    assert fixed_params("self_training", {"epochs": 1}) == {"epochs": 1, "iters_per_epoch": 40}


def test_default_configs_of_the_pool_methods_are_in_their_spaces() -> None:
    from types import SimpleNamespace

    src = [SimpleNamespace(name="ckpt")]
    configs = default_configs(["fixmatch", "mcc", "self_training"], src)  # type: ignore[arg-type]
    assert [c["strategy"] for c in configs] == ["fixmatch", "mcc", "self_training"]
    assert configs[0]["fixmatch.threshold"] == strategy_class("fixmatch").param_table()["threshold"].default
    assert "fixmatch.iterations" not in configs[0]  # pinned for trials
