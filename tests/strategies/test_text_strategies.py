"""Labelled strategies on a text task from the packaged MiniLM encoder (offline), through run_recipe.

The topic CSV has 48 real sentences in 3 topics (chance = 1/3); each strategy sees
4 labelled sentences per class and is scored on the 10 test sentences.
"""

from __future__ import annotations

import pytest

from tests.tasks._text_data import write_topic_csv
from warmstart.engine.feature_cache import FeatureCache, data_fingerprint
from warmstart.recipe import Recipe, run_recipe
from warmstart.source import Source
from warmstart.tasks import Task, load_task

pytest.importorskip("transformers")
hf_text = pytest.importorskip("warmstart.backbones.hf_text")

FAST = {"epochs": 1, "min_steps": 4, "batch_size": 16}


@pytest.fixture(scope="module")
def topics(tmp_path_factory: pytest.TempPathFactory) -> Task:
    return load_task(write_topic_csv(tmp_path_factory.mktemp("text") / "topics.csv"))


@pytest.fixture(scope="module")
def minilm_source() -> Source:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        src = Source(f"hf:{hf_text.minilm_path()}")
        src.checkpoint(progress=False)
    return src


@pytest.mark.parametrize("strategy, params", [("linear_probe", {}), ("finetune", FAST),
                                              ("llrd", FAST), ("l2sp", FAST)])
def test_strategy_beats_chance_at_four_shots(topics: Task, minilm_source: Source, strategy: str,
                                             params: dict[str, int]) -> None:
    result = run_recipe(topics, Recipe(strategy, params, shots=4, seed=0), source=minilm_source,
                        device="cpu", validation="none")
    assert result.test["accuracy"] >= 0.7, result.test  # chance is 1/3
    model = result.strategy.model_
    assert model.backbone.modality == "text" and model.head is not None
    proba = result.strategy.predict_proba(["Whisk the cream until stiff.", "The match ended in a draw."])
    assert proba.shape == (2, 3)


def test_feature_cache_keys_lists_of_texts(minilm_source: Source) -> None:
    model = minilm_source.checkpoint().model.eval()
    texts = ["Snow is falling.", "Add the butter."]
    assert data_fingerprint(texts) == data_fingerprint(list(texts))
    assert data_fingerprint(texts) != data_fingerprint(texts[::-1])
    cache = FeatureCache()
    a = cache.get(model, texts, model_key="minilm")
    b = cache.get(model, list(texts), model_key="minilm")
    assert a is b and cache.hits == 1 and cache.misses == 1 and a.shape == (2, 384)
