from __future__ import annotations

import json

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from warmstart.errors import ConfigError
from warmstart.knowledge import meta_features, open_storage, record_result, study_name, task_key, trial_rows
from warmstart.knowledge.records import ATTR, make_record_attr
from warmstart.knowledge.trials import FIXED_COLUMNS, columns
from warmstart.recipe import Recipe, run_recipe
from warmstart.tasks import get_task

PARAMS = {"epochs": 2, "min_steps": 1}


@pytest.fixture(scope="module")
def iris():
    return get_task("iris")


def _study(storage, task, kind, strategy, shots=None):
    key = task_key(task.name, shots)
    study = optuna.create_study(study_name=study_name(key, kind), storage=storage, direction="maximize")
    study.set_user_attr(ATTR, make_record_attr(key, kind, meta_features(task), {}, {}, strategy=strategy,
                                               shots=shots))
    return study


@pytest.fixture(scope="module")
def kb(tmp_path_factory, iris):
    """A SQLite knowledge base with a real 2-trial tune study (run_recipe + record_result)."""
    st = open_storage(f"sqlite:///{tmp_path_factory.mktemp('kb')}/kb.db")
    study = _study(st, iris, "tune:scratch", "scratch")
    results = {}

    def objective(trial):
        recipe = Recipe("scratch", {**PARAMS, "lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True)})
        res = run_recipe(iris, recipe, trial=trial, keep_model=True)
        record_result(trial, res)
        results[trial.number] = res
        return res.score

    study.optimize(objective, n_trials=2)
    return st, study, results


def test_record_result_writes_every_attribute(kb):
    _, study, results = kb
    t = study.trials[0]
    res = results[0]
    ua = t.user_attrs
    assert Recipe.from_json(ua["recipe"]) == res.recipe
    assert ua["validation"] == res.validation == "split"
    assert ua["validation_detail"] == res.validation_detail
    assert ua["metric"] == "val_accuracy"
    assert ua["fold_scores"] == pytest.approx(res.fold_scores)
    assert ua["curve"] == pytest.approx(res.curve) and len(ua["curve"]) == 2
    assert ua["n_epochs"] == 2
    assert ua["seconds"] == pytest.approx(res.seconds)
    assert ua["adaptations"] == res.adaptations
    assert ua["notes"] == res.notes
    assert ua["test"] == pytest.approx(res.test) and "accuracy" in ua["test"]


def test_rows_of_a_real_study(kb, iris):
    st, study, results = kb
    rows = trial_rows(st)
    assert len(rows) == 2
    meta = meta_features(iris)
    for row, t in zip(sorted(rows, key=lambda r: r["trial"]), study.trials, strict=True):
        res = results[t.number]
        assert row["study"] == "iris|tune:scratch" and row["kind"] == "tune:scratch" and row["task"] == "iris"
        assert row["state"] == "COMPLETE" and row["shots"] is None and row["seed"] == 0
        assert row["strategy"] == "scratch" and row["source"] is None and row["architecture"] is None
        assert json.loads(row["params"]) == dict(res.recipe.params)
        assert row["p_lr"] == pytest.approx(t.params["lr"]) and row["p_epochs"] == 2
        assert row["score"] == pytest.approx(t.value) == pytest.approx(res.score)
        assert row["validation"] == "split" and row["metric"] == "val_accuracy"
        assert json.loads(row["curve"]) == pytest.approx(res.curve) and row["n_epochs"] == 2
        assert row["test_accuracy"] == pytest.approx(res.test["accuracy"])
        assert {k[3:]: v for k, v in row.items() if k.startswith("mf_")} == pytest.approx(meta)
        assert not any(k.startswith("test_") and k[5:] not in res.test for k in row)


def test_pruned_trial_and_legacy_auto_trials(tmp_path, iris):
    st = open_storage(f"sqlite:///{tmp_path}/kb.db")
    tune = _study(st, iris, "tune:finetune", "finetune", shots=5)
    recipe = Recipe("finetune", {"epochs": 4}, source="ckpt", shots=5, architecture={"cut": 2})
    tune.add_trial(create_trial(state=TrialState.PRUNED, params={}, distributions={},
                                user_attrs={"recipe": recipe.to_json(), "curve": [0.4, 0.5]},
                                intermediate_values={0: 0.4, 1: 0.5}))
    auto = _study(st, iris, "auto", "auto", shots=5)
    # a trial written before record_result: auto's joint space holds the chosen source and strategy
    dist = {"finetune.lr": FloatDistribution(1e-4, 1.0, log=True), "source": CategoricalDistribution(["scratch"]),
            "strategy": CategoricalDistribution(["finetune"])}
    auto.add_trial(create_trial(value=0.7, params={"source": "scratch", "strategy": "finetune", "finetune.lr": 0.01},
                                distributions=dist,
                                user_attrs={"seconds": 1.5, "test": {"accuracy": 0.6, "confusion": [[1]]}}))
    auto.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))  # not a finished trial

    rows = {r["kind"]: r for r in trial_rows(st)}
    assert set(rows) == {"tune:finetune", "auto"}
    pruned = rows["tune:finetune"]
    assert pruned["state"] == "PRUNED" and pruned["score"] is None
    assert pruned["n_epochs"] == 2 and json.loads(pruned["curve"]) == [0.4, 0.5]
    assert json.loads(pruned["architecture"]) == {"cut": 2} and pruned["source"] == "ckpt"
    assert pruned["shots"] == 5 and pruned["task"] == "iris@5shots" and pruned["p_epochs"] == 4
    old = rows["auto"]
    assert old["strategy"] == "finetune" and old["source"] == "scratch"
    assert old["p_lr"] == 0.01 and "p_finetune.lr" not in old and "p_strategy" not in old
    assert old["score"] == 0.7 and old["seconds"] == 1.5 and old["test_accuracy"] == 0.6
    assert "test_confusion" not in old and old["validation"] is None and old["n_epochs"] == 0

    assert [r["kind"] for r in trial_rows(st, "auto")] == ["auto"]
    assert [r["kind"] for r in trial_rows(st, ["tune"])] == ["tune:finetune"]
    assert [r["kind"] for r in trial_rows(st, "tune:finetune")] == ["tune:finetune"]
    assert trial_rows(st, "search") == []
    with pytest.raises(ConfigError, match="unknown study kind 'nas'"):
        trial_rows(st, "nas")


def test_column_order_is_stable():
    rows = [{"mf_b": 1, "test_x": 1, "p_z": 1, "study": "s"}, {"mf_a": 2, "p_a": 2}]
    assert columns(rows) == [*FIXED_COLUMNS, "mf_a", "mf_b", "p_a", "p_z", "test_x"]
