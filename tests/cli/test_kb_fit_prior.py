"""``warmstart kb fit-prior``: fit the prior on a knowledge base's trials (validation scores only)."""

from __future__ import annotations

import json
import random

import optuna
import pytest
from optuna.trial import create_trial

from warmstart.knowledge import open_storage, study_name
from warmstart.knowledge.prior import Prior
from warmstart.knowledge.records import ATTR, make_record_attr
from warmstart.recipe import Recipe

#: validation accuracy of each strategy; the recorded test accuracy ranks them the other way round
VALIDATION = {"l2sp": 0.90, "finetune": 0.86, "scratch": 0.60}


def _kb(path, n_tasks: int) -> str:
    """A SQLite knowledge base with one auto study per task, its trials written as record_result writes them."""
    url = f"sqlite:///{path}"
    st = open_storage(url)
    rng = random.Random(0)
    for t in range(n_tasks):
        key = f"digits{t}@5shots"
        meta = {"is_image": 1.0, "log_n_classes": rng.uniform(1, 2.3)}
        study = optuna.create_study(study_name=study_name(key, "auto"), storage=st, direction="maximize")
        study.set_user_attr(ATTR, make_record_attr(key, "auto", meta, {}, {}, strategy="auto", shots=5))
        for strat, acc in VALIDATION.items():
            v = acc + rng.gauss(0, 0.01)
            study.add_trial(create_trial(value=v, params={}, distributions={}, user_attrs={
                "recipe": Recipe(strat, {"lr": 1e-3}, shots=5).to_json(), "metric": "val_accuracy",
                "validation": "kfold", "fold_scores": [v] * 3, "seconds": 5.0, "curve": [v / 2, v],
                "test": {"accuracy": 1.5 - v}}))
    return url


def test_fit_prior_writes_a_prior_learned_from_validation_scores(run_cli, tmp_path):
    url = _kb(tmp_path / "kb.db", 3)
    out = tmp_path / "prior.json"
    run = run_cli("kb", "fit-prior", "--storage", url, "-o", str(out), "--base", "none", "--json")
    assert run.code == 0, run.stderr
    info = run.json()
    assert info["path"] == str(out) and info["tasks"] == 3 and info["recipes"] == 3 and info["target"] == "score"
    assert json.loads(info["portfolio"][0]["key"])["strategy"] == "l2sp"  # by validation; by test it would be scratch
    prior = Prior.load(out)
    assert prior.suggest({"is_image": 1.0, "shots": 5}, k=1)[0].spec.strategy == "l2sp"

    run = run_cli("kb", "fit-prior", "--storage", url, "-o", str(tmp_path / "p.json.gz"), "--base", str(out))
    assert run.code == 0, run.stderr
    assert "6 tasks" in run.stdout and "greedy portfolio" in run.stdout and "wrote the prior" in run.stdout


def test_fit_prior_default_output_is_the_users_prior(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path / "cache"))
    run = run_cli("kb", "fit-prior", "--storage", _kb(tmp_path / "kb.db", 3), "--base", "none")
    assert run.code == 0, run.stderr
    assert Prior.load(tmp_path / "cache" / "prior.json").tasks


@pytest.mark.parametrize(("n_tasks", "fragment"), [(0, "at least 3 tasks"), (2, "hold 2")])
def test_fit_prior_refuses_too_few_tasks(run_cli, user_error, tmp_path, n_tasks, fragment):
    url = _kb(tmp_path / "kb.db", n_tasks)
    user_error(run_cli("kb", "fit-prior", "--storage", url, "-o", str(tmp_path / "p.json"), "--base", "none"),
               fragment)
    assert not (tmp_path / "p.json").exists()


def test_fit_prior_bad_base_file(run_cli, user_error, tmp_path):
    url = _kb(tmp_path / "kb.db", 3)
    user_error(run_cli("kb", "fit-prior", "--storage", url, "--base", str(tmp_path / "nope.json")), "does not exist")
