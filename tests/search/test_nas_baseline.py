"""The baseline trial of a search: the unchanged source fine-tuned, scored like the candidates, kept on ties."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from warmstart.knowledge import open_storage
from warmstart.knowledge.trials import trial_rows
from warmstart.recipe import Recipe, run_recipe
from warmstart.search._baseline import ATTR, TIE, choose
from warmstart.search._candidates_only import CandidatesOnly
from warmstart.search.evolution import RegularizedEvolutionSampler
from warmstart.search.nas import search_architecture
from warmstart.search.nas_space import NASSpace, Space
from warmstart.tasks import Task, get_task

SPACE = NASSpace(3, "image", cut=(2, 3), freeze=(2, 3), blocks=(0, 1), block_width=(16,), kernel=(3,),
                 head_depth=(0,), activation=("relu",), dropout=(0.0,))
TINY = {"epochs": 1, "min_steps": 10}  # the baseline's hyperparameters here (defaults in real searches)


@pytest.fixture(scope="module")
def few() -> Task:
    return get_task("digits").few_shot(4, seed=0)


def _study(result: dict) -> optuna.Study:
    return optuna.load_study(study_name=result["study"]["name"], storage=open_storage(result["study"]["storage"]))


def _trial(value: float, baseline: bool = False) -> optuna.trial.FrozenTrial:
    t = create_trial(value=value, user_attrs={"val_accuracy": value, "val_loss": 1.0, **({ATTR: "l2sp"}
                                                                                         if baseline else {})})
    t.number = 0 if baseline else 1
    return t


def test_tie_rule() -> None:
    """A candidate must beat the baseline on validation; ties (and float noise) keep the baseline."""
    assert choose(_trial(1.0), _trial(1.0, baseline=True)).winner == "baseline"  # both perfect: the baseline
    assert choose(_trial(0.8 + TIE / 2), _trial(0.8, baseline=True)).winner == "baseline"
    assert choose(_trial(0.7), _trial(0.8, baseline=True)).winner == "baseline"
    won = choose(_trial(0.9), _trial(0.8, baseline=True))
    assert won.winner == "candidate" and won.trial.number == 1 and "beats the baseline" in won.reason
    kept = choose(_trial(1.0), _trial(1.0, baseline=True))
    assert kept.trial.number == 0 and "ties go to the baseline" in kept.reason
    report = kept.to_json()
    assert report["baseline"]["val_accuracy"] == report["candidate"]["val_accuracy"] == 1.0
    assert choose(None, _trial(0.1, baseline=True)).winner == "baseline"  # no candidate finished
    assert choose(_trial(0.1), None).winner == "candidate"  # no baseline
    with pytest.raises(ValueError):
        choose(None, None)


def test_final_model_is_never_worse_on_validation_than_the_baseline(few: Task, pretrained_source: Path,
                                                                    tmp_path: Path) -> None:
    """Tiny budget: the baseline trial is one more trial of the study, recorded and scored like the candidates."""
    kb = tmp_path / "kb.db"
    r = search_architecture(few, pretrained_source, strategy="evolution", budget=3, space=SPACE, epochs=1,
                            transfer_strategy=None, baseline_params=TINY, storage=kb, run_dir=tmp_path / "run")
    base, choice = r["baseline"], r["final_choice"]
    assert base["strategy"] == "l2sp" and base["params"] == TINY and not base["reused"] and base["seconds"] > 0
    assert r["n_trials"] == 3  # a trial budget counts candidates: the baseline is one more trial
    assert r["val_accuracy"] >= base["val_accuracy"]  # never worse on validation
    cand = choice["candidate"]
    if choice["winner"] == "candidate":
        assert cand["value"] > choice["baseline"]["value"] and r["best_trial"] == cand["trial"]
    else:
        assert cand["value"] <= choice["baseline"]["value"] and r["best_trial"] == base["trial"]
        assert r["architecture"]["unchanged_source"] and r["final_training"]["strategy"] == "l2sp"

    rows = {row["trial"]: row for row in trial_rows(open_storage(kb), "search")}
    assert len(rows) == 4 and {row["kind"] for row in rows.values()} == {"search:evolution"}
    b = rows[base["trial"]]
    assert b["strategy"] == "l2sp" and b["architecture"] is None and b["score"] == base["val_accuracy"]
    assert b["source"] == str(pretrained_source) and b["test_accuracy"] is not None
    study = _study(r)
    trials = {t.number: t for t in study.trials}
    details = {t.user_attrs["validation_detail"] for t in trials.values()}
    assert len(details) == 1 and trials[base["trial"]].user_attrs["validation"] == "kfold"  # one protocol
    assert trials[base["trial"]].user_attrs[ATTR] == "l2sp" and trials[base["trial"]].params == {}
    # the evolution sampler never took the baseline as a parent, and the baseline came first
    assert all(t.user_attrs.get("parent") != base["trial"] for t in trials.values())
    assert [row["baseline"] for row in r["timeline"]] == [True, False, False, False]


def test_baseline_wins_when_no_candidate_beats_it(few: Task, pretrained_source: Path, tmp_path: Path) -> None:
    """Candidates that cannot learn (lr 1e-7): the final model is the baseline, retrained on every label."""
    out = tmp_path / "best"
    r = search_architecture(few, pretrained_source, strategy="random", budget=2, space=SPACE, epochs=1, lr=1e-7,
                            baseline_params={"epochs": 3, "min_steps": 30}, storage=tmp_path / "kb.db",
                            run_dir=tmp_path / "run", out=out)
    choice = r["final_choice"]
    assert choice["winner"] == "baseline", choice
    assert choice["baseline"]["value"] >= choice["candidate"]["value"]
    assert r["val_accuracy"] == r["baseline"]["val_accuracy"] and r["architecture"]["unchanged_source"]
    assert r["final_training"]["strategy"] == "l2sp"  # not --then: the baseline's own recipe again
    again = run_recipe(few, Recipe("l2sp", {"epochs": 3, "min_steps": 30}, source=str(pretrained_source),
                                   shots=few.shots, seed=0), validation="none")
    assert r["test"]["accuracy"] == pytest.approx(again.test["accuracy"], abs=1e-6)  # exactly that model
    meta = json.loads((out / "meta.json").read_text())
    assert meta["extra"]["final_choice"]["winner"] == "baseline"


def test_a_budget_too_small_for_any_candidate_ends_with_the_baseline(few: Task, pretrained_source: Path,
                                                                     tmp_path: Path) -> None:
    """The baseline runs to its end (the search's floor); no time is left for candidates: no error, the baseline."""
    for strategy in ("random", "darts"):
        r = search_architecture(few, pretrained_source, strategy=strategy, budget="0.001s", space=SPACE,
                                transfer_strategy=None, baseline_params=TINY, storage=tmp_path / "kb.db")
        assert r["n_trials"] == 0 and r["final_choice"]["winner"] == "baseline"
        assert r["final_choice"]["candidate"] is None and "no architecture candidate" in r["final_choice"]["reason"]


def test_a_continued_search_reuses_its_baseline(few: Task, pretrained_source: Path, tmp_path: Path) -> None:
    kw = dict(strategy="random", space=SPACE, epochs=1, transfer_strategy=None, baseline_params=TINY,
              storage=tmp_path / "kb.db", run_dir=tmp_path / "run")
    first = search_architecture(few, pretrained_source, budget=1, **kw)
    second = search_architecture(few, pretrained_source, budget=3, **kw)
    assert second["baseline"]["reused"] and second["baseline"]["trial"] == first["baseline"]["trial"]
    assert second["n_trials"] == 3  # candidates only: the baseline trial does not eat the trial budget
    assert sum(ATTR in t.user_attrs for t in _study(second).trials) == 1
    other = search_architecture(few, pretrained_source, budget=3, baseline="finetune", **kw)  # another recipe
    assert not other["baseline"]["reused"] and other["baseline"]["strategy"] == "finetune"


def test_scratch_and_none_run_no_baseline(few: Task, pretrained_source: Path, tmp_path: Path) -> None:
    kw = dict(strategy="random", budget=1, space=SPACE, epochs=1, transfer_strategy=None, storage=tmp_path / "kb.db")
    for r in (search_architecture(few, pretrained_source, inherit=False, **kw),  # default baseline, ignored
              search_architecture(few, pretrained_source, baseline="none", **kw)):
        assert r["baseline"] is None and r["final_choice"]["winner"] == "candidate"
        assert not any(ATTR in t.user_attrs for t in _study(r).trials)


def test_samplers_never_see_the_baseline_trial() -> None:
    """NSGA-II's search space and evolution's population are the candidates', the baseline trial aside."""
    space = Space({"a": [0, 1, 2], "b": [0, 1]})
    dist = space.distributions()

    def study_with_baseline(sampler: optuna.samplers.BaseSampler, n: int) -> optuna.Study:
        study = optuna.create_study(directions=["maximize", "minimize"] if n < 0 else ["maximize"], sampler=sampler)
        study.add_trial(create_trial(values=[2.0, 0.0] if n < 0 else [5.0], user_attrs={ATTR: "l2sp"}))
        for i in range(abs(n)):
            params = {"a": i % 3, "b": i % 2}
            study.add_trial(create_trial(values=[float(i), 1.0] if n < 0 else [float(i)], params=params,
                                         distributions=dist))
        return study

    raw = optuna.samplers.NSGAIISampler(seed=0, population_size=2)
    study = study_with_baseline(raw, -4)
    probe = create_trial(state=TrialState.RUNNING)
    assert raw.infer_relative_search_space(study, probe) == {}  # what the wrapper prevents
    wrapped = CandidatesOnly(optuna.samplers.NSGAIISampler(seed=0, population_size=2))
    assert set(wrapped.infer_relative_search_space(study_with_baseline(wrapped, -4), probe)) == {"a", "b"}

    evo = RegularizedEvolutionSampler(space, population_size=3, sample_size=3, seed=0)
    study = study_with_baseline(CandidatesOnly(evo), 2)
    assert [t.number for t in evo.population(study)] == [0, 1, 2]  # unwrapped, the baseline would be a member
    study.optimize(lambda t: float(t.suggest_categorical("a", [0, 1, 2])) + t.suggest_categorical("b", [0, 1]),
                   n_trials=4)
    parents = [t.system_attrs["nas:parent"] for t in study.trials if "nas:parent" in t.system_attrs]
    assert parents and 0 not in parents  # the baseline (trial 0, the best value) was never a parent
