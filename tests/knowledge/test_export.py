from __future__ import annotations

import csv
import json

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import create_trial
from typer.testing import CliRunner

from warmstart.cli.main import app
from warmstart.errors import ConfigError
from warmstart.knowledge import export_trials, meta_features, open_storage, record_result, study_name, trial_rows
from warmstart.knowledge.records import ATTR, make_record_attr
from warmstart.knowledge.trials import columns
from warmstart.recipe import Recipe, run_recipe
from warmstart.tasks import get_task


def _study(storage, task, kind, strategy, shots=None):
    key = task.name if shots is None else f"{task.name}@{shots}shots"
    study = optuna.create_study(study_name=study_name(key, kind), storage=storage, direction="maximize")
    study.set_user_attr(ATTR, make_record_attr(key, kind, meta_features(task), {}, {}, strategy=strategy,
                                               shots=shots))
    return study


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    """A knowledge base with one real tune trial (5 shots: k-fold CV) and one auto trial whose
    ``augment`` parameter mixes types across rows (a string here, missing elsewhere)."""
    task = get_task("iris")
    url = f"sqlite:///{tmp_path_factory.mktemp('kb')}/kb.db"
    st = open_storage(url)
    tune = _study(st, task, "tune:scratch", "scratch", shots=5)

    def objective(trial):
        res = run_recipe(task, Recipe("scratch", {"epochs": 2, "min_steps": 1}, shots=5), trial=trial)
        record_result(trial, res)
        return res.score

    tune.optimize(objective, n_trials=1)
    auto = _study(st, task, "auto", "auto")
    rec = Recipe("finetune", {"epochs": 3, "augment": "light", "lr": 0.01}, source="scratch")
    auto.add_trial(create_trial(value=0.5, params={"strategy": "finetune"},
                                distributions={"strategy": CategoricalDistribution(["finetune"])},
                                user_attrs={"recipe": rec.to_json(), "seconds": 2.0, "curve": [0.5],
                                            "test": {"accuracy": 0.25}}))
    return url, st


def _cell(v):
    return "" if v is None else str(v)


def test_csv_round_trip(kb, tmp_path):
    _, st = kb
    rows = trial_rows(st)
    out = tmp_path / "trials.csv"
    assert export_trials(st, out) == 2
    with open(out, newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == columns(rows)
        got = list(reader)
    assert len(got) == 2
    want = sorted(rows, key=lambda r: r["kind"])
    got.sort(key=lambda r: r["kind"])
    for g, w in zip(got, want, strict=True):
        assert g == {c: _cell(w.get(c)) for c in columns(rows)}
    tune_row = got[1]
    assert tune_row["validation"] == "kfold" and tune_row["shots"] == "5" and tune_row["p_augment"] == ""
    assert float(tune_row["score"]) == pytest.approx(trial_rows(st, "tune")[0]["score"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.csv"]  # no temporary file left


def test_parquet_round_trip_and_kind_filter(kb, tmp_path):
    _, st = kb
    out = tmp_path / "trials.parquet"
    assert export_trials(st, out, "parquet", kinds="auto") == 1
    frame = pd.read_parquet(out)
    assert list(frame.columns) == columns(trial_rows(st, "auto"))
    row = frame.iloc[0]
    assert row["kind"] == "auto" and row["strategy"] == "finetune" and row["source"] == "scratch"
    assert row["p_lr"] == 0.01 and row["p_augment"] == "light" and row["test_accuracy"] == 0.25
    assert json.loads(row["params"]) == {"augment": "light", "epochs": 3, "lr": 0.01}
    assert export_trials(st, out, "parquet") == 2  # replaces the file
    both = pd.read_parquet(out)
    assert len(both) == 2 and both["score"].notna().all() and both["p_augment"].isna().sum() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.parquet"]


def test_bad_requests(kb, tmp_path):
    _, st = kb
    with pytest.raises(ConfigError, match="unknown export format 'xlsx'"):
        export_trials(st, tmp_path / "t.xlsx", "xlsx")
    with pytest.raises(ConfigError, match="does not exist"):
        export_trials(st, tmp_path / "missing" / "t.csv")
    with pytest.raises(ConfigError, match="is a folder"):
        export_trials(st, tmp_path)
    (tmp_path / "t.csv").write_text("old")
    with pytest.raises(ConfigError, match="unknown study kind"):
        export_trials(st, tmp_path / "t.csv", kinds="nas")
    assert (tmp_path / "t.csv").read_text() == "old"
    assert not (tmp_path / "missing").exists()


def test_cli_export(kb, tmp_path):
    url, _ = kb
    runner = CliRunner()
    out = tmp_path / "t.csv"
    res = runner.invoke(app, ["kb", "export", "--format", "csv", "-o", str(out), "--storage", url, "--kind", "tune"])
    assert res.exit_code == 0, res.output
    assert "wrote 1 trials" in res.output
    with open(out, newline="") as fh:
        assert [r["kind"] for r in csv.DictReader(fh)] == ["tune:scratch"]
    for args, msg in [(["--format", "xml", "-o", str(out)], "unknown export format"),
                      (["-o", str(tmp_path / "nope" / "t.csv")], "does not exist"),
                      (["--kind", "nas", "-o", str(out)], "unknown study kind")]:
        res = runner.invoke(app, ["kb", "export", "--storage", url, *args])
        assert res.exit_code == 2
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0]
    res = runner.invoke(app, ["kb", "export", "-o", str(out), "--storage", "notaurl"])
    assert res.exit_code == 2 and res.output.strip().startswith("error:") and "\n" not in res.output.strip()


def test_parquet_mixed_column_becomes_text(tmp_path):
    st = open_storage(f"sqlite:///{tmp_path}/kb.db")
    study = _study(st, get_task("iris"), "tune:finetune", "finetune")
    for k in (3, "auto"):
        study.add_trial(create_trial(value=0.5, params={}, distributions={},
                                     user_attrs={"recipe": Recipe("finetune", {"k": k}).to_json()}))
    out = tmp_path / "t.parquet"
    export_trials(st, out, "parquet")
    assert sorted(pd.read_parquet(out)["p_k"]) == ["3", "auto"]
