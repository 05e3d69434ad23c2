from __future__ import annotations

import json

import optuna
import pytest
from typer.testing import CliRunner

from warmstart.cli.main import app
from warmstart.errors import ConfigError, StorageError
from warmstart.knowledge import list_records, open_storage
from warmstart.search.runner import tune

FAST = {"epochs": 2, "min_steps": 0}


def test_tune_resume_and_warm_start(tmp_path):
    kb = f"sqlite:///{tmp_path}/kb.db"
    r1 = tune("iris-a", "scratch", budget=3, warm_start="none", storage=kb, params=FAST, pruner="none")
    assert r1["trials"]["counted"] == 3 and r1["best_value"] is not None
    assert set(r1["best_params"]) == {"lr", "weight_decay"}
    assert "accuracy" in r1["test"]  # reporting only
    r2 = tune("iris-a", "scratch", budget=4, warm_start="none", storage=kb, params=FAST)
    assert r2["study"] == r1["study"] and r2["trials"]["counted"] == 4 and r2["trials"]["new"] == 1
    # a related task, warm-started: the source's best configuration is tried first
    r3 = tune("iris-b", "scratch", budget=2, warm_start="topk", storage=kb, params=FAST, pruner="none")
    assert r3["warm_start"] == "topk" and "iris-a" in r3["warm_start_reason"]
    study = optuna.load_study(study_name=r3["study"], storage=open_storage(kb))
    assert study.trials[0].params == r2["best_params"]
    recs = {r.task: r for r in list_records(open_storage(kb))}
    assert recs["iris-a"].n_complete + recs["iris-a"].n_pruned == 4 and "log_n_train" in recs["iris-b"].meta_features


def test_few_shot_uses_the_one_validation_protocol(tmp_path):
    """Trials run through run_recipe: scored by warmstart.validation on the support labels, recorded as a row."""
    from warmstart.knowledge.trials import trial_rows
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.tasks import load_task

    kb = f"{tmp_path}/kb.db"
    r = tune("wine", "scratch", budget=1, warm_start="auto", storage=kb, params=FAST, shots=3, pruner="none")
    assert r["study"] == "wine@3shots|tune:scratch" and r["warm_start"] == "none"
    trial = optuna.load_study(study_name=r["study"], storage=open_storage(kb)).trials[0]
    assert trial.user_attrs["validation"] == "kfold" and len(trial.user_attrs["fold_scores"]) == 3
    assert trial.user_attrs["validation_detail"].startswith("stratified 3-fold CV on the 9 support labels")
    recipe = Recipe.from_json(trial.user_attrs["recipe"])
    assert recipe.strategy == "scratch" and recipe.params == {**FAST, **trial.params} and recipe.shots is None
    # the same recipe run directly on the same support set gets the same score: one path, one protocol
    again = run_recipe(load_task("wine").few_shot(3, seed=0), recipe, validation="auto", keep_model=False)
    assert again.score == pytest.approx(trial.value)
    row = next(x for x in trial_rows(open_storage(kb)) if x["study"] == r["study"])
    assert row["score"] == trial.value and row["validation"] == "kfold" and "test_accuracy" in row
    # 1 label per class: leave-one-out on the support set (no error any more)
    one = tune("wine", "scratch", budget=1, storage=kb, params=FAST, shots=1, pruner="none")
    t1 = optuna.load_study(study_name=one["study"], storage=open_storage(kb)).trials[0]
    assert t1.user_attrs["validation"] == "loo"


def test_parallel_workers_hit_exact_budget(tmp_path):
    """jobs=2: two worker processes (not this one) both run trials, and together exactly the budget."""
    import os
    import socket

    # trials of ~0.2 s or more: both workers, started together, take some before the budget is spent
    r = tune("iris", "scratch", budget=4, warm_start="none", storage=f"journal:{tmp_path}/kb.log", jobs=2,
             params={"epochs": 30, "min_steps": 0}, pruner="none")
    assert r["trials"]["counted"] == 4 and r["trials"]["complete"] == 4
    study = optuna.load_study(study_name=r["study"], storage=open_storage(f"journal:{tmp_path}/kb.log"))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    workers = {t.user_attrs["worker"] for t in complete}
    assert len(workers) == 2, workers  # two distinct processes each finished at least one trial
    assert f"{socket.gethostname()}:{os.getpid()}" not in workers  # not run in this process


def test_bad_options(tmp_path):
    kb = f"{tmp_path}/kb.db"
    with pytest.raises(ConfigError, match="lr"):
        tune("iris", "scratch", budget=1, storage=kb, params={"lr": -1})
    with pytest.raises(ConfigError, match="jobs"):
        tune("iris", "scratch", budget=1, storage=optuna.storages.InMemoryStorage(), jobs=2)
    with pytest.raises(StorageError):
        tune("iris", "scratch", budget=1, storage="nonsense")


def test_cli_tune_and_kb(tmp_path):
    kb = f"{tmp_path}/kb.db"
    run = CliRunner().invoke
    res = run(app, ["tune", "--task", "iris-a", "--strategy", "scratch", "--budget", "2", "--warm-start", "none",
                    "--storage", kb, "--json", "--epochs", "2", "--min-steps", "0", "--pruner", "none"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["trials"]["counted"] == 2
    res = run(app, ["kb", "list", "--storage", kb])
    assert res.exit_code == 0 and "iris-a" in res.output
    res = run(app, ["kb", "show", "iris-a", "--storage", kb])
    assert res.exit_code == 0 and "log_n_train" in res.output
    res = run(app, ["kb", "show", "nope", "--storage", kb])
    assert res.exit_code == 2 and "iris-a" in res.output
    res = run(app, ["kb", "similar", "iris-b", "--storage", kb, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["task"] == "iris-a"
    res = run(app, ["tune", "--task", "iris", "--strategy", "scratch", "--budget", "5x", "--storage", kb])
    assert res.exit_code == 2 and "budget" in res.output
    res = run(app, ["tune", "--task", "iris", "--strategy", "scratch", "--warm-start", "zz", "--storage", kb])
    assert res.exit_code == 2 and "topk" in res.output


def test_a_run_reports_its_first_folds_fit_and_training_seconds():
    """Result.fit_seconds is the first fold's fit; train_seconds its epochs' step time, a part of it."""
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.tasks import load_task

    res = run_recipe(load_task("wine").few_shot(3, seed=0), Recipe("scratch", {"epochs": 2, "min_steps": 4}),
                     validation="auto", keep_model=False)
    assert res.fit_seconds is not None and res.train_seconds is not None
    assert 0.0 < res.train_seconds <= res.fit_seconds <= res.seconds
    assert res.to_json()["train_seconds"] == res.train_seconds
