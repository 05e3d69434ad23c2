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
    assert fixed_params("mcc") == fixed_params("dann")
    assert fixed_params("self_training") == {**fixed_params("dann"), "unlabeled_ratio": 1}
    da_steps = _steps("dann", fixed_params("dann"))
    for name in ("mcc", "self_training", "fixmatch"):
        default = _steps(name, {})
        trial = _steps(name, fixed_params(name))
        assert trial <= da_steps < default, (name, trial, da_steps, default)
        assert not set(fixed_params(name)) & set(search_space(name, fixed_params(name)))  # pinned: not searched


def test_trials_run_the_meta_datasets_budget() -> None:
    # one table: a prior pick is a recipe the meta-dataset ran, with the seconds the prior saw
    from benchmarks._meta_portfolio import BUDGET
    from warmstart.auto.trial_budget import TRIAL_BUDGET

    assert BUDGET is TRIAL_BUDGET
    for name, fixed in TRIAL_BUDGET.items():
        assert fixed_params(name) == fixed and set(fixed) <= set(strategy_class(name).param_table()), name


def test_user_options_win_over_the_trial_settings() -> None:
    assert fixed_params("fixmatch", {"iterations": 7, "iters_per_epoch": 2})["iterations"] == 7  # not its option
    assert "iters_per_epoch" not in fixed_params("fixmatch", {"iters_per_epoch": 2})
    assert fixed_params("self_training", {"epochs": 2}) == {"epochs": 2, "iters_per_epoch": 50, "unlabeled_ratio": 1}


def test_default_configs_of_the_pool_methods_are_in_their_spaces() -> None:
    from types import SimpleNamespace

    src = [SimpleNamespace(name="ckpt")]
    configs = default_configs(["fixmatch", "mcc", "self_training"], src)  # type: ignore[arg-type]
    assert [c["strategy"] for c in configs] == ["fixmatch", "mcc", "self_training"]
    assert configs[0]["fixmatch.threshold"] == strategy_class("fixmatch").param_table()["threshold"].default
    assert "fixmatch.iterations" not in configs[0]  # pinned for trials
