"""warmstart auto: ranking, situation, joint search, warm start from the knowledge base, outputs, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from warmstart.auto import auto, choose_strategies
from warmstart.backbones import load_checkpoint
from warmstart.cli.main import app
from warmstart.tasks import get_task, register_task

FAST = {"epochs": 1, "min_steps": 4, "batch_size": 32}


def _small(name: str, n: int = 300):
    def make():
        t = get_task(name)
        g = torch.Generator().manual_seed(0)
        tr, va, te = (torch.randperm(len(y), generator=g)[:k] for y, k in ((t.y_train, n), (t.y_val, 100),
                                                                           (t.y_test, 100)))
        return t.replace(name=f"{name}-small", x_train=t.x_train[tr], y_train=t.y_train[tr],
                         x_val=t.x_val[va], y_val=t.y_val[va], x_test=t.x_test[te], y_test=t.y_test[te])
    return make


register_task("digits-small", _small("digits"))
register_task("digits-noisy-small", _small("digits-noisy"))
register_task("mnist5k-small", _small("mnist5k"))


def test_situation_rules() -> None:
    t = get_task("digits-small")
    da = choose_strategies(t.few_shot(0), has_source_data=True, gap=0.2)
    assert da.strategies[0] == "source_only" and "dann" in da.strategies
    few = choose_strategies(t.few_shot(1), has_source_data=False, gap=0.2)
    assert "linear_probe" in few.strategies and "multitask" not in few.strategies
    gap = choose_strategies(t.few_shot(5), has_source_data=True, gap=0.9)
    assert "linear_probe" not in gap.strategies and "multitask" in gap.strategies
    assert any("domain gap" in r for r in gap.reasons)
    none = choose_strategies(t.few_shot(0), has_source_data=False, gap=None)
    assert none.strategies == [] and "unlabelled pool" in none.reasons[0]


def test_auto_end_to_end_and_second_run_starts_warm(pretrained_source, tmp_path) -> None:
    kb = tmp_path / "kb.db"
    r1 = auto("digits-small", budget=2, sources=[pretrained_source], storage=str(kb), shots=3,
              strategies=["finetune", "linear_probe"], out=tmp_path / "run1", progress=False, params=FAST,
              prior="none")  # the rules and the knowledge-base warm start (the prior: test_auto_prior.py)
    assert r1["sources"][0]["logme"] is not None and r1["sources"][0]["leep"] is not None
    assert len([t for t in r1["trials"] if t["state"] in ("COMPLETE", "PRUNED")]) == 2
    assert r1["winner"]["strategy"] in ("finetune", "linear_probe")
    assert 0 <= r1["winner"]["test"]["accuracy"] <= 1
    run = json.loads((tmp_path / "run1" / "run.json").read_text())
    assert run["winner"]["label"] == r1["winner"]["label"]
    assert "section id=\"confusion\"" in (tmp_path / "run1" / "report.html").read_text()
    ck = load_checkpoint(r1["model"])
    assert ck.meta["extra"]["strategy"] == r1["winner"]["strategy"]
    assert any("no similar past task" in n for n in r1["notes"])  # first run: defaults first, not the KB
    # every trial ran through run_recipe, scored by the one few-shot protocol, and is a row of the trial table
    from warmstart.knowledge import open_storage
    from warmstart.knowledge.trials import trial_rows

    rows = trial_rows(open_storage(str(kb)), "auto")
    assert len(rows) == 2 and {r["validation"] for r in rows} == {"kfold"}
    assert {r["strategy"] for r in rows} <= {"finetune", "linear_probe"} and all(r["source"] for r in rows)
    assert "3-fold" in run["selection"]["protocol"]
    # a similar task: the first trial is the first run's best configuration, queued from the knowledge base
    r2 = auto("digits-noisy-small", budget=1, sources=[pretrained_source], storage=str(kb), shots=3,
              strategies=["finetune", "linear_probe"], out=tmp_path / "run2", progress=False, params=FAST,
              prior="none")
    assert r2["warm_started_trials"] >= 1
    assert any("queued the best configuration of digits-small" in n for n in r2["notes"])
    # `kb list` shows tune and auto studies alike (search studies: tests/search/test_nas_study.py)
    import contextlib
    import io

    from warmstart import tune
    from warmstart.cli.main import main

    tune("iris", "scratch", budget=1, storage=str(kb), params={"epochs": 1, "min_steps": 1}, warm_start="none")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["kb", "list", "--storage", str(kb), "--json"]) == 0
    kinds = {rec["kind"] for rec in json.loads(out.getvalue())}
    assert {"auto", "tune:scratch"} <= kinds, kinds


def test_auto_cli_bad_inputs(pretrained_source, tmp_path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["auto", "--task", "digits-small", "--budget", "5s", "--source", str(pretrained_source)])
    assert res.exit_code == 2 and "too small" in res.stderr
    res = runner.invoke(app, ["auto", "--task", "wine", "--budget", "1", "--source", str(pretrained_source),
                              "--storage", str(tmp_path / "kb.db")])
    assert res.exit_code == 2 and "no usable source" in res.stderr and "tabular" in res.stderr
    res = runner.invoke(app, ["auto", "--task", "digits-small", "--budget", "1", "--strategy", "nope"])
    assert res.exit_code == 2 and "unknown strategy" in res.stderr


@pytest.mark.parametrize("budget", ["0", "-3", "ten minutes"])
def test_auto_rejects_bad_budgets(budget) -> None:
    res = CliRunner().invoke(app, ["auto", "--task", "digits-small", "--budget", budget])
    assert res.exit_code == 2 and res.stderr.startswith("error:")


def test_the_winner_is_retrained_at_its_full_length(pretrained_source, tmp_path) -> None:
    from warmstart.auto.trial_budget import trial_budget
    from warmstart.strategies.finetune import Finetune

    r = auto("digits-small", budget=1, sources=[pretrained_source], storage=str(tmp_path / "kb.db"), shots=3,
             strategies=["finetune"], out=tmp_path / "run", progress=False, prior="none")
    final = r["winner"]["final_fit"]
    assert final["length"] == "full" and final["work_ratio"] > 1.0
    assert final["trial_params"].items() >= trial_budget("finetune").items()  # the trial ran the short budget
    assert not set(trial_budget("finetune")) & set(r["winner"]["params"])  # the final fit, the defaults' length
    defaults = Finetune.param_table()
    # 30 labels, one batch per epoch: max(30 epochs, 100 min_steps) = 100 epochs (the trial: 50)
    assert len(r["winner"]["history"]) == max(defaults["epochs"].default, defaults["min_steps"].default)
    assert any(n.startswith("the winner is retrained at its strategy's full length") for n in r["notes"])
