from __future__ import annotations

import sys

import optuna
import pytest

from warmstart.engine.callbacks import extra_callbacks
from warmstart.engine.tracking import (
    make_tracker,
    mlflow_tracking_uri,
    numeric_logs,
    study_callbacks,
    track_objective,
)
from warmstart.errors import ConfigError
from warmstart.recipe import Recipe, run_recipe
from warmstart.tasks import get_task

mlflow = pytest.importorskip("mlflow")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

FAST = {"epochs": 3, "min_steps": 1}


@pytest.fixture(scope="module")
def iris():
    return get_task("iris")


@pytest.fixture(scope="module")
def mlflow_dir(tmp_path_factory):
    """One MLflow SQLite store for the module (creating its tables takes seconds)."""
    return tmp_path_factory.mktemp("mlruns")


def _scalars(log_dir, tag):
    acc = event_accumulator.EventAccumulator(str(log_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_mlflow_tracker_logs_every_epoch(iris, mlflow_dir, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with make_tracker("mlflow", "transfer-iris", out_dir=mlflow_dir) as tracker, extra_callbacks(tracker):
        res = run_recipe(iris, Recipe("scratch", FAST))
    assert tracker.tracking_uri == f"sqlite:///{mlflow_dir.resolve()}/mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=tracker.tracking_uri)
    run = client.get_run(tracker.run_id)
    assert run.info.run_name == "transfer-iris" and run.info.status == "FINISHED"
    loss = client.get_metric_history(tracker.run_id, "train_loss")
    assert sorted(m.step for m in loss) == [1, 2, 3]
    val = sorted(client.get_metric_history(tracker.run_id, "val_accuracy"), key=lambda m: m.step)
    assert [m.value for m in val] == pytest.approx(res.curve)
    assert {"lr", "seconds"} <= set(run.data.metrics) and "epoch" not in run.data.metrics


def test_mlflow_study_one_nested_run_per_trial(iris, mlflow_dir, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 1e-2, log=True)
        return run_recipe(iris, Recipe("scratch", {**FAST, "lr": lr})).score

    study = optuna.create_study(study_name="iris|tune:scratch", direction="maximize")
    with make_tracker("mlflow", "tune-iris", out_dir=mlflow_dir) as tracker, extra_callbacks(tracker):
        cbs = study_callbacks("mlflow", out_dir=mlflow_dir)
        study.optimize(track_objective(cbs, objective), n_trials=2, callbacks=cbs)
    client = mlflow.MlflowClient(tracking_uri=tracker.tracking_uri)
    parent = client.get_run(tracker.run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{tracker.run_id}'")
    assert sorted(r.info.run_name for r in children) == ["0", "1"]
    for run in children:
        trial = study.trials[int(run.info.run_name)]
        assert run.data.metrics["score"] == pytest.approx(trial.value)
        assert float(run.data.params["lr"]) == pytest.approx(trial.params["lr"])
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "train_loss"))
        assert steps == [1, 2, 3]  # each trial's epochs in its own run, counted from 1
    assert "train_loss" not in parent.data.metrics


def test_tensorboard_tracker_continues_steps_across_folds(iris, tmp_path):
    with make_tracker("tensorboard", "iris-5shots", out_dir=tmp_path) as tracker, extra_callbacks(tracker):
        res = run_recipe(iris, Recipe("scratch", FAST, shots=5))
    assert res.validation == "kfold"
    n_fits = len(res.fold_scores)
    loss = _scalars(tmp_path / "iris-5shots", "train_loss")
    assert [s for s, _ in loss] == list(range(1, 3 * n_fits + 1))
    val = _scalars(tmp_path / "iris-5shots", "val_accuracy")
    assert [v for _, v in val[:3]] == pytest.approx(res.curve)


def test_tensorboard_study_callback(tmp_path):
    (cb,) = study_callbacks("tensorboard", run_name="study", out_dir=tmp_path)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 1:
            raise optuna.TrialPruned()
        return x * 2

    study.optimize(objective, n_trials=3, callbacks=[cb])
    cb.close()
    values = _scalars(tmp_path / "study" / "trials", "trial/value")
    assert [s for s, _ in values] == [0, 2]
    assert [v for _, v in values] == pytest.approx([study.trials[0].value, study.trials[2].value])
    assert [v for _, v in _scalars(tmp_path / "study" / "trials", "params/x")] == pytest.approx(
        [study.trials[0].params["x"], study.trials[2].params["x"]])


def test_tracking_uri_respects_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    assert mlflow_tracking_uri() == "sqlite:////elsewhere/mlflow.db"
    assert mlflow_tracking_uri(tmp_path / "mine") == f"sqlite:///{(tmp_path / 'mine').resolve()}/mlflow.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    assert mlflow_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert (tmp_path / "mlruns").is_dir()


def test_bad_kind_missing_extra_and_log_filter(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown tracker 'wandb'; valid trackers: mlflow, tensorboard"):
        make_tracker("wandb", "x")
    with pytest.raises(ConfigError, match="unknown tracker"):
        study_callbacks("wandb")
    assert study_callbacks(None) == []
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the track extra were not installed
    with pytest.raises(ConfigError, match=r"warmstart\[track\]"):
        make_tracker("mlflow", "x", out_dir=tmp_path)
    logs = {"epoch": 3, "train_loss": 0.5, "val_accuracy": 1, "lr": float("nan"), "stopped": True, "note": "x"}
    assert numeric_logs(logs) == {"train_loss": 0.5, "val_accuracy": 1.0}
