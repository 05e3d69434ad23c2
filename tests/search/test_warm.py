from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from warmstart.errors import UnknownNameError
from warmstart.search.space import search_space
from warmstart.search.warm import SourceTask, SpaceMismatchWarning, make_warm_start
from warmstart.search.warm._sources import restrict
from warmstart.search.warm.box import bounding_box
from warmstart.search.warm.quantile import QuantileSampler
from warmstart.search.warm.topk import topk_configs

SPACE = {"lr": FloatDistribution(1e-5, 1e-1, log=True), "wd": FloatDistribution(0.0, 1.0),
         "bs": IntDistribution(8, 256, log=True), "opt": CategoricalDistribution(("adam", "sgd"))}


def _score(c):  # best near lr = 1e-3, wd = 0.2, adam
    return -abs(math.log10(c["lr"]) + 3) - abs(c["wd"] - 0.2) - (0.3 if c["opt"] == "sgd" else 0.0)


def _sources(n_tasks=3, n=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n_tasks):
        cfgs = [{"lr": float(10 ** rng.uniform(-5, -1)), "wd": float(rng.random()), "bs": int(rng.integers(8, 257)),
                 "opt": str(rng.choice(["adam", "sgd"]))} for _ in range(n)]
        out.append(SourceTask(f"s{t}", cfgs, [_score(c) * (t + 1) + t for c in cfgs], distance=0.1 * t))
    return out


def _run(ws, n=12):
    study = optuna.create_study(direction="maximize", sampler=ws.sampler)
    for c in ws.enqueue:
        study.enqueue_trial(c)
    study.optimize(lambda tr: _score({k: tr._suggest(k, d) for k, d in SPACE.items()}), n_trials=n)
    return study


def test_space_from_strategy_params():
    sp = search_space("finetune")
    assert sp["lr"].log and sp["lr"].low == 1e-5 and "head_lr_mult" in sp
    assert "lr" not in search_space("finetune", fixed=["lr"])


def test_topk_takes_best_of_nearest_first():
    src = _sources()
    cfgs = topk_configs(src, 5)
    assert cfgs[0] == src[0].best()[0] and cfgs[1] == src[1].best()[0] and cfgs[2] == src[2].best()[0]
    assert cfgs[3] == src[0].best(2)[1] and len(cfgs) == 5


def test_box_is_bounding_box_of_best():
    src = _sources()
    box = bounding_box(src, SPACE)
    best = [s.best()[0] for s in src]
    assert box["lr"].low == min(b["lr"] for b in best) and box["lr"].high == max(b["lr"] for b in best)
    assert set(box["opt"].choices) == {b["opt"] for b in best}
    study = _run(make_warm_start("box", src, SPACE, seed=0))
    assert all(box["lr"].low <= t.params["lr"] <= box["lr"].high for t in study.trials)


def test_quantile_proposes_new_configs_and_beats_random():
    src = _sources()
    sampler = QuantileSampler(src, SPACE, seed=0)
    seen = {tuple(sorted(c.items())) for s in src for c in s.configs}
    props = [sampler.propose() for _ in range(10)]
    assert all(tuple(sorted(p.items())) not in seen for p in props)
    warm = np.mean([_score(p) for p in props])
    rand = np.mean([_score(c) for c in src[0].configs])
    assert warm > rand + 0.5  # the copula model learned where good configurations are


@pytest.mark.parametrize("name", ["none", "topk", "box", "quantile", "cmaes", "auto"])
def test_every_warm_start_runs(name):
    ws = make_warm_start(name, _sources(), SPACE, seed=1)
    study = _run(ws, n=6)
    assert len(study.trials) == 6 and ws.description
    if name == "auto":
        assert ws.description.startswith("auto:") and ws.name == "topk" and "benchmark" in ws.description


def test_auto_without_sources_says_why():
    ws = make_warm_start("auto", [], SPACE, seed=0)
    assert ws.name == "none" and "no finished study" in ws.description
    few = make_warm_start("auto", _sources(1, 5), SPACE, seed=0)
    assert few.name == "topk" and "too few" in few.description


def test_unknown_warm_start():
    with pytest.raises(UnknownNameError, match="valid warm starts"):
        make_warm_start("magic", [], SPACE)


def test_differing_space_transfers_overlap_and_warns():
    cfgs = [{"lr": 1e-3, "momentum": 0.9}, {"lr": 5.0, "momentum": 0.8}]
    with pytest.warns(SpaceMismatchWarning) as rec:
        kept, notes = restrict(cfgs, SPACE, "old")
    assert kept == [{"lr": 1e-3}, {}]
    assert any("momentum" in n for n in notes) and any("outside" in n for n in notes)
    assert any("no values for" in str(w.message) for w in rec)
