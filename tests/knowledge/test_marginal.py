"""The marginal model, its blend with the trees (warmstart/knowledge/_marginal.py), and the ranker's model setting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.knowledge._prior_data import situation, synthetic_rows
from warmstart.errors import ConfigError, DataError
from warmstart.knowledge._marginal import Blend, Marginal, levels
from warmstart.knowledge._regressors import make
from warmstart.knowledge.prior import Prior, PriorConfig, fit_prior

NAMES = ["mf_a", "log1p_shots", "all_labels", "tf_logme", "strategy=x", "strategy=y", "log10 p_lr", "has_architecture"]


def test_levels_go_from_recipe_and_shots_to_strategy_alone():
    recipe_shots, recipe, strategy_shots, strategy = levels(NAMES)
    assert recipe_shots == [1, 2, 4, 5, 6, 7] and recipe == [4, 5, 6, 7]
    assert strategy_shots == [1, 2, 4, 5] and strategy == [4, 5]
    assert levels(["mf_a", "strategy=x"]) == [[1], [1], [1], [1]]


def test_levels_read_the_modality_first_where_the_features_have_it():
    names = ["mf_is_image", *NAMES]
    got = levels(names)
    assert len(got) == 8
    assert got[0] == [0, 2, 3, 5, 6, 7, 8] and got[1] == [2, 3, 5, 6, 7, 8]  # recipe + shots, same modality first
    assert got[6] == [0, 5, 6] and got[7] == [5, 6]  # strategy alone, same modality first


def test_marginal_prefers_tasks_of_the_same_modality():
    names = ["mf_is_image", "log1p_shots", "strategy=x"]
    x = np.array([[1.0, 1.0, 1.0]] * 3 + [[0.0, 1.0, 1.0]] * 3)
    y = np.array([0.2] * 3 + [-0.4] * 3)
    m = Marginal(levels(names)).fit(x, y)
    assert m.predict(np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])) == pytest.approx([0.2, -0.4])
    # a modality with too few rows falls back to every task's mean for the recipe at these shots
    m = Marginal(levels(names)).fit(x[:5], y[:5])
    assert m.predict(np.array([[0.0, 1.0, 1.0]])) == pytest.approx([float(y[:5].mean())])


def row(shots: float, strategy: str, lr: float) -> list[float]:
    return [0.3, shots, 0.0, 0.1, float(strategy == "x"), float(strategy == "y"), lr, 0.0]


def test_marginal_answers_from_the_most_specific_level_with_enough_rows():
    x = np.array([row(1.0, "x", -2.0)] * 3 + [row(2.0, "x", -2.0)] * 3 + [row(1.0, "x", -3.0)] * 2
                 + [row(1.0, "y", -2.0)] * 3)
    y = np.array([0.1] * 3 + [0.3] * 3 + [0.5] * 2 + [-0.4] * 3)
    m = Marginal(levels(NAMES)).fit(x, y)
    got = m.predict(np.array([row(1.0, "x", -2.0),   # recipe at these shots: its 3 rows
                              row(3.0, "x", -2.0),   # shots unseen: the recipe over every shots level
                              row(1.0, "x", -3.0),   # 2 rows only: the strategy at these shots
                              row(5.0, "x", -4.0),   # recipe and shots unseen: the strategy
                              [0.0] * 8]))           # nothing known: every row's mean
    assert got == pytest.approx([0.1, 0.2, (0.1 * 3 + 0.5 * 2) / 5,
                                 (0.1 * 3 + 0.3 * 3 + 0.5 * 2) / 8, float(y.mean())])


def test_the_blend_is_the_average_of_the_trees_and_the_marginal_model():
    rng = np.random.default_rng(0)
    x = np.array([row(float(rng.integers(1, 3)), str(rng.choice(["x", "y"])), -2.0) for _ in range(60)])
    x[:, 0] = rng.uniform(0, 1, 60)
    y = x[:, 0] * (x[:, 4] - 0.5) + rng.normal(0, 0.01, 60)  # depends on the task: only the trees see it
    blend = make("blend", 0, levels(NAMES)).fit(x, y)
    assert isinstance(blend, Blend)
    trees, marg = make("trees", 0).fit(x, y), make("marginal", 0, levels(NAMES)).fit(x, y)
    assert blend.predict(x) == pytest.approx(0.5 * trees.predict(x) + 0.5 * marg.predict(x))


def test_the_rankers_model_is_a_setting_kept_in_the_file(tmp_path):
    rows = synthetic_rows()
    priors = {k: fit_prior(rows, config=PriorConfig(ranker=k)) for k in ("blend", "trees", "marginal")}
    for kind in ("image", "tabular"):
        preds = {k: p.predict({"strategy": "scratch", "params": {"lr": 1e-3}}, situation(kind))[0]
                 for k, p in priors.items()}
        assert preds["blend"] == pytest.approx((preds["trees"] + preds["marginal"]) / 2)
    # the marginal model reads the modality (nothing else of the task); both rank each modality's winner first
    assert priors["marginal"].suggest(situation("image"), k=1, cost_weight=0)[0].spec.strategy == "l2sp"
    assert priors["marginal"].suggest(situation("tabular"), k=1, cost_weight=0)[0].spec.strategy == "scratch"
    assert priors["blend"].suggest(situation("image"), k=1, cost_weight=0)[0].spec.strategy == "l2sp"
    assert priors["blend"].suggest(situation("tabular"), k=1, cost_weight=0)[0].spec.strategy == "scratch"
    path = priors["trees"].save(tmp_path / "p.json")
    back = Prior.load(path)
    assert back.config.ranker == "trees" and back.ranker.sigma == priors["trees"].ranker.sigma
    data = json.loads(path.read_text())
    data["config"]["ranker"] = "forest"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="malformed"):
        Prior.load(path)
    with pytest.raises(ConfigError, match="unknown ranker model 'forest'"):
        PriorConfig(ranker="forest")
