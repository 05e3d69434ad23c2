"""auto's situation: whenever a pool exists the pool methods are listed, early, each with its reason, and
those that cannot run on the task (non-image data, a pool smaller than one batch) are left out with theirs."""

from __future__ import annotations

from warmstart.auto.situation import DA_STRATEGIES, choose_strategies
from warmstart.strategies import strategy_class
from warmstart.tasks import get_task


def _pool_batch(strategy: str) -> int:
    table = strategy_class(strategy).param_table()
    return int(table["batch_size"].default) * int(table["unlabeled_ratio"].default)


def test_unsupervised_adaptation_lists_mcc_and_self_training_after_source_only() -> None:
    sit = choose_strategies(get_task("digits").few_shot(0), has_source_data=True, gap=0.3)
    assert sit.strategies[:3] == ["source_only", "mcc", "self_training"]
    assert set(DA_STRATEGIES) <= set(sit.strategies) and "fixmatch" not in sit.strategies  # no labels
    pool = [r for r in sit.reasons if "learn from the pool itself" in r]
    assert len(pool) == 1 and "mcc: minimum class confusion" in pool[0] and "self_training: confident" in pool[0]


def test_labels_and_a_pool_add_fixmatch_second() -> None:
    for shots in (1, 5):
        sit = choose_strategies(get_task("digits").few_shot(shots), has_source_data=True, gap=0.2)
        assert sit.strategies[:2] == ["finetune", "fixmatch"] and sit.strategies.count("fixmatch") == 1, sit.strategies
        assert "multitask" in sit.strategies and "finetune" in sit.strategies  # the pool-free ones stay
        assert any(r.startswith(f"{shots} label(s) per class and an unlabelled pool: semi-supervised transfer")
                   for r in sit.reasons), sit.reasons
    full = get_task("digits")  # every training label, no pool
    assert not full.has_unlabeled
    sit = choose_strategies(full, has_source_data=False, gap=0.2)
    assert "fixmatch" not in sit.strategies and not any("pool" in r for r in sit.reasons)


def test_pool_methods_that_cannot_run_are_left_out_with_the_reason() -> None:
    need = _pool_batch("fixmatch")
    few = get_task("digits").few_shot(3)
    assert few.x_unlabeled is not None
    small = few.replace(x_unlabeled=few.x_unlabeled[:need - 1])
    sit = choose_strategies(small, has_source_data=False, gap=0.2)
    assert "fixmatch" not in sit.strategies
    assert (f"fixmatch left out: the unlabelled pool has {need - 1} examples, fewer than one unlabelled batch "
            f"({need}) at its defaults") in sit.reasons
    # unsupervised: self_training needs the larger batch, mcc only batch_size
    unlab = get_task("digits").few_shot(0)
    assert unlab.x_unlabeled is not None
    mcc_batch = int(strategy_class("mcc").param_table()["batch_size"].default)
    sit = choose_strategies(unlab.replace(x_unlabeled=unlab.x_unlabeled[:mcc_batch]), has_source_data=True, gap=0.2)
    assert "mcc" in sit.strategies and "self_training" not in sit.strategies
    assert any(r.startswith("self_training left out: the unlabelled pool has") for r in sit.reasons)
    # tabular data: the weak/strong image views do not apply
    tab = get_task("breast_cancer")
    assert tab.modality == "tabular"
    sit = choose_strategies(tab.few_shot(0), has_source_data=True, gap=0.2)
    assert "mcc" in sit.strategies and "self_training" not in sit.strategies
    assert any(r.startswith("self_training left out: it trains on weak and strong image views") for r in sit.reasons)
    sit = choose_strategies(tab.few_shot(3), has_source_data=True, gap=0.2)
    assert "fixmatch" not in sit.strategies and any(r.startswith("fixmatch left out") for r in sit.reasons)


def test_a_restriction_keeps_the_pool_methods_asked_for() -> None:
    sit = choose_strategies(get_task("digits").few_shot(2), has_source_data=False, gap=0.2,
                            allowed=["finetune", "fixmatch"])
    assert sit.strategies == ["finetune", "fixmatch"]
