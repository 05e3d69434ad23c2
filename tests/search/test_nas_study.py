"""The NAS study lives in the knowledge base: it resumes, ``kb list`` shows it, every trial is a recorded Recipe."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from warmstart.cli.main import app
from warmstart.errors import ConfigError
from warmstart.knowledge import open_storage
from warmstart.knowledge.trials import trial_rows
from warmstart.search.nas import STRATEGIES, search_architecture
from warmstart.search.nas_space import NASSpace
from warmstart.search.samplers import sampler_names
from warmstart.tasks import get_task

SPACE = NASSpace(3, "image", cut=(2, 3), freeze=(2, 3), blocks=(0, 1), block_width=(16,), kernel=(3,),
                 head_depth=(0,), activation=("relu",), dropout=(0.0,))


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _complete(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    return study.get_trials(states=(TrialState.COMPLETE,))


def test_search_continues_its_study_and_kb_list_shows_it(pretrained_source: Path, tmp_path: Path) -> None:
    """Budget 2, then the same command with budget 4: one study of 4 trials whose first 2 are unchanged.

    Only search and tune studies are created here (auto's are left to the auto tests); ``kb list``
    must list both kinds the same way.
    """
    kb = str(tmp_path / "kb.db")
    cmd = ["search", "--source", str(pretrained_source), "--task", "digits", "--shots", "4", "--strategy",
           "evolution", "--epochs", "1", "--then", "none", "--baseline", "none", "--storage", kb, "--run-dir",
           str(tmp_path / "run"), "--json"]
    code, out, err = _cli(*cmd, "--budget", "2")
    assert code == 0, err
    first = json.loads(out)
    assert first["n_trials"] == 2 and first["study"]["name"] == "digits@4shots|search:evolution"
    before = {t.number: (t.params, t.values, t.datetime_complete) for t in _complete(kb, first["study"]["name"])}
    assert sorted(before) == [0, 1]

    code, out, err = _cli(*cmd, "--budget", "4")  # run again: the study continues
    assert code == 0, err
    second = json.loads(out)
    trials = _complete(kb, second["study"]["name"])
    assert second["n_trials"] == 4 and len(trials) == 4
    assert {t.number: (t.params, t.values, t.datetime_complete) for t in trials if t.number < 2} == before

    code, out, err = _cli("tune", "--task", "wine", "--strategy", "scratch", "--budget", "1", "--epochs", "1",
                          "--warm-start", "none", "--storage", kb, "--json")
    assert code == 0, err
    code, out, err = _cli("kb", "list", "--storage", kb, "--json")
    assert code == 0, err
    listed = {r["kind"]: r for r in json.loads(out)}
    assert set(listed) == {"search:evolution", "tune:scratch"}
    assert listed["search:evolution"]["trials"]["complete"] == 4 and listed["search:evolution"]["meta_features"]
    assert listed["tune:scratch"]["trials"]["complete"] == 1


def test_every_candidate_is_a_recorded_recipe(pretrained_source: Path, tmp_path: Path) -> None:
    """Candidates run as ``nas_candidate`` recipes under the shared few-shot protocol, one trial-table row each."""
    few = get_task("digits").few_shot(4, seed=0)
    kb = tmp_path / "kb.db"
    r = search_architecture(few, pretrained_source, strategy="random", budget=2, space=SPACE, epochs=1,
                            transfer_strategy=None, storage=kb, run_dir=tmp_path / "run", baseline="none")
    rows = trial_rows(open_storage(kb), "search")
    assert len(rows) == 2 and {row["kind"] for row in rows} == {"search:random"}
    for row in rows:
        assert row["strategy"] == "nas_candidate" and row["source"] == str(pretrained_source)
        assert row["validation"] == "kfold"  # 4 labels per class: stratified 3-fold CV, as tune and auto
        assert json.loads(row["architecture"])["cut"] in (2, 3) and row["shots"] == 4
        assert row["score"] is not None and row["test_accuracy"] is not None
    assert r["validation"] == "kfold"


def test_resuming_with_other_settings_is_refused(pretrained_source: Path, tmp_path: Path) -> None:
    few = get_task("digits").few_shot(4, seed=0)
    kw = dict(strategy="random", budget=1, epochs=1, transfer_strategy=None, storage=tmp_path / "kb.db",
              baseline="none")
    search_architecture(few, pretrained_source, space=SPACE, **kw)
    other = NASSpace(3, "image", cut=(3,), freeze=(3,), blocks=(0,), head_depth=(0,))
    with pytest.raises(ConfigError, match="other settings"):
        search_architecture(few, pretrained_source, space=other, **kw)
    with pytest.raises(ConfigError, match="labelled target examples"):
        search_architecture(get_task("digits").few_shot(0), pretrained_source, space=SPACE, **kw)


def test_every_search_strategy_is_a_registered_sampler_or_darts() -> None:
    assert set(STRATEGIES) == {*sampler_names("nas"), "darts"}


def test_candidates_sharing_a_frozen_prefix_train_on_its_cached_features(pretrained_source: Path) -> None:
    """``nas_candidate`` through run_recipe: frozen stages stay the source's, their features are computed once."""
    import torch

    from warmstart.backbones.adapt import adapt_to_task
    from warmstart.backbones.checkpoint import load_checkpoint
    from warmstart.engine.feature_cache import default_cache
    from warmstart.recipe import Recipe, run_recipe

    few = get_task("digits").few_shot(4, seed=1)
    spec = {"cut": 3, "freeze": 2, "blocks": 0, "block_width": None, "head_depth": 0, "head_width": None,
            "activation": "relu", "dropout": 0.0, "norm": False}
    first = run_recipe(few, Recipe("nas_candidate", {"epochs": 1}, source=str(pretrained_source), architecture=spec),
                       validation="none")
    misses = default_cache().misses
    other = {**spec, "head_depth": 1, "head_width": 16}  # another candidate on the same frozen prefix
    second = run_recipe(few, Recipe("nas_candidate", {"epochs": 1}, source=str(pretrained_source),
                                    architecture=other), validation="none")
    assert default_cache().misses == misses  # its frozen features came from the cache
    ckpt = load_checkpoint(pretrained_source)
    source = adapt_to_task(ckpt.model, few, ckpt.classes, "auto")[0]
    for result in (first, second):
        stages = result.model.backbone.stages
        for i in range(2):  # frozen: exactly the source's weights
            assert all(torch.equal(v, source.backbone.stages[i].state_dict()[k].to(v.device))
                       for k, v in stages[i].state_dict().items())
        assert not all(torch.equal(v, source.backbone.stages[2].state_dict()[k].to(v.device))
                       for k, v in stages[2].state_dict().items())  # the unfrozen stage trained
    assert second.model.head_spec.hidden == (16,) and second.info["frozen_stages"] == 2
