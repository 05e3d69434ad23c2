"""Architecture search end to end: every strategy, weight inheritance, DARTS, checkpoints, bad input."""

from __future__ import annotations

import random
from pathlib import Path

import optuna
import pytest
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact
from safetensors.torch import load_file

from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.checkpoint import load_checkpoint, read_meta
from warmstart.backbones.classifier import Classifier
from warmstart.engine.evaluate import predict_proba
from warmstart.errors import ConfigError
from warmstart.knowledge import open_storage
from warmstart.search._candidate import PROBE
from warmstart.search.evolution import RegularizedEvolutionSampler
from warmstart.search.morphism import morph
from warmstart.search.nas import parse_objectives, search_architecture
from warmstart.search.nas_space import NASSpace, Space
from warmstart.search.reinforce import ReinforceSampler
from warmstart.tasks import Task, get_task
from warmstart.validation import plan_validation

FAST = {"epochs": 2, "batch_size": 32, "baseline": "none"}  # the baseline trial: tests/search/test_nas_baseline.py


@pytest.fixture(scope="module")
def few() -> Task:
    """digits, 4 labelled examples per class (validation comes out of them)."""
    return get_task("digits").few_shot(4, seed=0)


SMALL = NASSpace(3, "image", cut=(2, 3), freeze=(2, 3), blocks=(0, 1), block_width=(16, 32), kernel=(1, 3),
                 head_depth=(0, 1), head_width=(16,), activation=("relu",), dropout=(0.0,))


@pytest.mark.parametrize("strategy", ["random", "tpe", "rl", "nsga2"])
def test_strategies_run_and_report(strategy: str, few: Task, pretrained_source: Path, tmp_path: Path) -> None:
    r = search_architecture(few, pretrained_source, strategy=strategy, budget=2, objective="accuracy,latency",
                            space=SMALL, transfer_strategy=None, storage=tmp_path / "kb.db", **FAST)
    assert r["n_trials"] == 2 and len(r["timeline"]) == 2
    assert 0.0 <= r["test"]["accuracy"] <= 1.0 and r["latency_ms"] > 0
    best = [row["best_val_accuracy"] for row in r["timeline"]]
    assert best == sorted(best)
    # baseline="none" keeps the old behaviour: no baseline trial, the best candidate is the final model
    assert r["baseline"] is None and not any(row["baseline"] for row in r["timeline"])
    assert r["final_choice"]["winner"] == "candidate" and r["final_choice"]["baseline"] is None
    assert not r["architecture"]["unchanged_source"]
    if strategy != "nsga2":
        assert r["best_trial"] == max(r["timeline"], key=lambda row: row["value"])["trial"]
    if strategy == "nsga2":
        assert r["pareto_front"] and {"val_accuracy", "latency"} <= set(r["pareto_front"][0])


# every mutation of this space changes something other than the cut depth, so a child either
# computes its parent's function (a preserving morphism: deeper, wider, larger kernel, dropout) or not
MORPHS = NASSpace(3, "image", cut=(3,), freeze=(2, 3), blocks=(0, 1), block_width=(16, 32), kernel=(1, 3),
                  head_depth=(0, 1), head_width=(16, 32), activation=("relu",), dropout=(0.0, 0.2))


def _stored(result: dict) -> tuple[optuna.Study, FileSystemArtifactStore]:
    """The study a search kept in the knowledge base, and its artifact store."""
    study = optuna.load_study(study_name=result["study"]["name"], storage=open_storage(result["study"]["storage"]))
    return study, FileSystemArtifactStore(result["study"]["artifacts"])


def _probe(task: Task, seed: int) -> torch.Tensor:
    """The inputs every candidate's ``init_probe`` was computed on: the first fold's first training examples."""
    return plan_validation(task, "auto", seed=seed).folds[0].x_train[:PROBE]


def _trained(trial: optuna.trial.FrozenTrial, space: NASSpace, base: Classifier, store: FileSystemArtifactStore,
             tmp: Path) -> Classifier:
    """A finished trial's model with the trained weights the search stored for it."""
    model = space.build(dict(trial.params), base, inherit=True, seed=trial.number)
    path = tmp / f"trial-{trial.number}-{trial.user_attrs['artifact_id']}.safetensors"
    download_artifact(artifact_store=store, file_path=str(path), artifact_id=trial.user_attrs["artifact_id"])
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def _source_base(few: Task, source: Path) -> Classifier:
    ckpt = load_checkpoint(source)
    return adapt_to_task(ckpt.model, few, ckpt.classes, "auto")[0].eval()


def test_evolution_children_inherit_trained_parent_weights(few: Task, pretrained_source: Path,
                                                           tmp_path: Path) -> None:
    r = search_architecture(few, pretrained_source, strategy="evolution", budget=10, space=MORPHS,
                            transfer_strategy="finetune", transfer_params={"epochs": 1, "min_steps": 2},
                            out=tmp_path / "best", run_dir=tmp_path / "run", storage=tmp_path / "kb.db", **FAST)
    assert r["n_trials"] == 10
    ckpt = load_checkpoint(tmp_path / "best")
    assert ckpt.meta["extra"]["architecture"]["resolved"] == r["architecture"]["resolved"]
    assert predict_proba(ckpt.model, few.x_test[:20]).shape == (20, 10)

    study, store = _stored(r)
    base = _source_base(few, pretrained_source)
    probe = _probe(few, seed=0)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    children = [t for t in done if "parent" in t.user_attrs and t.user_attrs["morph"]["preserving"]]
    assert len(children) >= 2, [t.user_attrs.get("morph") for t in done]
    for child in children:
        parent = study.trials[child.user_attrs["parent"]]
        trained_parent = _trained(parent, MORPHS, base, store, tmp_path)
        started = torch.tensor(child.user_attrs["init_probe"])  # the child's outputs before its training
        # the child started as its TRAINED parent: same outputs in eval mode ...
        assert torch.allclose(started, trained_parent(probe), atol=1e-5)
        rebuilt, rep = morph(trained_parent, MORPHS.resolve(dict(parent.params)), MORPHS.resolve(dict(child.params)),
                             seed=child.number)
        assert rep["preserving"] and torch.allclose(rebuilt.eval()(probe), started, atol=1e-5)
        # ... not as an untrained candidate built from the source
        fresh = MORPHS.build(dict(child.params), base, inherit=True, seed=child.number).eval()
        assert (fresh(probe) - started).abs().max() > 1e-3


def test_evolution_sampler_ages_out_the_oldest_and_records_parents() -> None:
    import optuna

    space = Space({"a": [0, 1, 2, 3], "b": [0, 1, 2]})
    sampler = RegularizedEvolutionSampler(space, population_size=4, sample_size=2, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: float(t.suggest_categorical("a", space.choices["a"])
                                   + t.suggest_categorical("b", space.choices["b"])), n_trials=12)
    pop = sampler.population(study)
    assert [t.number for t in pop] == [8, 9, 10, 11]  # the most recent: oldest removed, not the worst
    children = [t for t in study.trials if "nas:parent" in t.system_attrs]
    assert len(children) == 8
    for t in children:
        parent = study.trials[t.system_attrs["nas:parent"]]
        assert sum(t.params[k] != parent.params[k] for k in "ab") <= 1  # one mutation


def test_reinforce_moves_towards_rewarded_choices() -> None:
    space = Space({"op": ["a", "b", "c"]})
    s = ReinforceSampler(space, lr=0.2, entropy_weight=0.0, seed=0)
    for _ in range(40):
        for op, reward in (("a", 1.0), ("b", 0.0), ("c", 0.0)):
            s.update({"op": op}, reward)
    p = s.probabilities()["op"]
    assert p[0] > 0.6 and s.baseline is not None


def test_darts_alpha_moves_and_derived_cell_is_retrained(few: Task, pretrained_source: Path,
                                                         tmp_path: Path) -> None:
    r = search_architecture(few, pretrained_source, strategy="darts", budget=1, transfer_strategy=None,
                            out=tmp_path / "cell", storage=tmp_path / "kb.db", **FAST)
    assert r["darts"]["alpha_change"] > 1e-3  # the architecture weights moved
    assert r["n_trials"] == 1 and r["timeline"][0]["val_accuracy"] >= 0  # the derived cell was retrained
    spec = read_meta(tmp_path / "cell")["neck"]
    assert spec["type"] == "cell" and spec["nodes"] >= 4 and len(spec["ops"]) == 10
    assert "none" not in spec["ops"]
    ckpt = load_checkpoint(tmp_path / "cell")
    assert ckpt.model(few.x_test[:3]).shape == (3, 10)


def test_scratch_baseline_uses_random_weights(few: Task, pretrained_source: Path, tmp_path: Path) -> None:
    """inherit=False (``--scratch``): candidates' weights differ from the checkpoint's; inherit=True: they are it."""
    kw = dict(strategy="random", budget=2, space=SMALL, transfer_strategy=None, seed=3, storage=tmp_path / "kb.db",
              **FAST)
    a = search_architecture(few, pretrained_source, inherit=True, run_dir=tmp_path / "a", **kw)
    b = search_architecture(few, pretrained_source, inherit=False, run_dir=tmp_path / "b", **kw)
    assert a["architecture"]["resolved"] == b["architecture"]["resolved"]  # same space, same sampler seed
    base = _source_base(few, pretrained_source)
    probe = _probe(few, seed=3)
    for result, inherited in ((a, True), (b, False)):
        study, store = _stored(result)
        for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
            model = _trained(trial, SMALL, base, store, tmp_path)
            frozen = SMALL.resolve(dict(trial.params))["freeze"]  # stages the search never trains
            assert frozen >= 2
            for i in range(frozen):
                mine, source = model.backbone.stages[i].state_dict(), base.backbone.stages[i].state_dict()
                same = all(torch.equal(mine[k], source[k]) for k in source)
                assert same == inherited, (trial.number, i)
            if not inherited:  # nor does it start as the source-initialized candidate would
                fresh = SMALL.build(dict(trial.params), base, inherit=True, seed=3000 + trial.number).eval()
                assert (fresh(probe) - torch.tensor(trial.user_attrs["init_probe"])).abs().max() > 1e-3


def test_custom_space_declared_in_python(few: Task, pretrained_source: Path, tmp_path: Path) -> None:
    from warmstart.search.morphism import base_arch, morph

    def build(arch: dict, base: torch.nn.Module) -> torch.nn.Module:
        full = {**base_arch(base), "cut": arch["cut"], "freeze": arch["cut"], "head_depth": 1,
                "head_width": arch["hidden"], "activation": arch["act"]}
        return morph(base, base_arch(base), full)[0]

    space = Space({"cut": [2, 3], "hidden": [8, 16], "act": ["relu", "tanh"]}, build=build,
                  constraint=lambda a: not (a["cut"] == 2 and a["act"] == "tanh"))
    r = search_architecture(few, pretrained_source, strategy="evolution", budget=3, space=space,
                            transfer_strategy=None, storage=tmp_path / "kb.db", **FAST)
    assert r["n_trials"] == 3 and set(r["architecture"]["params"]) == {"cut", "hidden", "act"}


def test_bad_input_gives_clear_errors(few: Task, pretrained_source: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="beyond the backbone"):
        NASSpace(3, cut=(1, 4))
    with pytest.raises(ConfigError, match="contradictory"):
        NASSpace(3, cut=(1,), freeze=(2, 3))
    with pytest.raises(ConfigError, match="no values"):
        Space({"width": []})
    with pytest.raises(ConfigError, match="empty"):
        Space().validate()
    with pytest.raises(ConfigError, match="contradictory"):
        Space({"a": [1, 2]}, constraint=lambda a: a["a"] > 5).validate()
    with pytest.raises(ConfigError, match="too small for one candidate"):
        search_architecture(few, pretrained_source, strategy="random", budget="0.01s", space=SMALL,
                            transfer_strategy=None, epochs=50, storage=tmp_path / "kb.db", baseline="none")
    with pytest.raises(ConfigError, match="too small for one candidate"):
        search_architecture(few, pretrained_source, strategy="darts", budget="0.001s", transfer_strategy=None,
                            storage=tmp_path / "kb.db", baseline="none")
    with pytest.raises(ConfigError, match="unknown search strategy"):
        search_architecture(few, pretrained_source, strategy="genetic", budget=1)
    with pytest.raises(ConfigError, match="unknown baseline 'lora'; valid: l2sp, finetune, none"):
        search_architecture(few, pretrained_source, strategy="random", budget=1, baseline="lora")
    with pytest.raises(ConfigError, match="unknown objective"):
        parse_objectives("accuracy,speed")
    with pytest.raises(ConfigError, match="first"):
        parse_objectives("latency,accuracy")
    assert parse_objectives("accuracy,latency,params") == ["accuracy", "latency", "params"]
    assert NASSpace(3).mutate({"cut": 3}, random.Random(0))
