"""protonet's options: cosine metric, rotation classes, pretraining stage, support augmentation, support BN.

Tiny budgets: two source classes (eight with rotations), a few episodes; the end-to-end and
Euclidean-head checks live in test_meta_learners.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from warmstart.backbones.checkpoint import load_checkpoint, save_checkpoint
from warmstart.backbones.classifier import L2Normalize
from warmstart.errors import ConfigError
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task
from warmstart.tasks.episodes import EpisodeSampler

TINY = {"meta_episodes": 3, "meta_ways": 2, "meta_queries": 2, "source_classes": "0,1", "progress": False,
        "pretrain_epochs": 0}


@pytest.fixture(scope="module")
def episode() -> Task:
    d = get_task("digits")
    return EpisodeSampler.from_task(d, 3, 2, 4, split="test", seed=1).episode(0).as_task(
        "digits-episode", "image", d.input_shape)


@pytest.fixture()
def src(pretrained_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Source:
    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path / "cache"))  # every test meta-trains afresh
    return Source(path=pretrained_source, task_name="mnist5k")


def test_cosine_head_is_exact_and_survives_a_checkpoint(src: Source, episode: Task, tmp_path: Path) -> None:
    s = get_strategy("protonet", metric="cosine", scale_init=7.0, **TINY).fit(episode, src)
    scale = s.info_["meta_trained"]["scale"]
    assert scale != 7.0  # the scale is learned
    model = s.model_
    assert isinstance(model.head[0], L2Normalize) and float(model.output_layer.bias.detach().abs().max()) == 0.0
    with torch.no_grad():
        sup = model.features(episode.x_train)
        protos = torch.stack([sup[episode.y_train == k].mean(0) for k in range(episode.n_classes)])
        cos = F.normalize(model.features(episode.x_test), dim=1) @ F.normalize(protos, dim=1).t()
    torch.testing.assert_close(s.predict_proba(episode.x_test), torch.softmax(scale * cos, 1), atol=1e-5,
                               rtol=1e-4)
    save_checkpoint(model, tmp_path / "ck", classes=episode.classes, source_task=None)
    back = load_checkpoint(tmp_path / "ck").model.eval()
    with torch.no_grad():
        torch.testing.assert_close(back(episode.x_test), model(episode.x_test))


def test_rotation_classes_multiply_the_source_classes(src: Source, episode: Task) -> None:
    on = get_strategy("protonet", **{**TINY, "meta_ways": 8}).fit(episode, src).info_["meta_trained"]
    assert on["classes"] == 8 and on["ways"] == 8 and on["rotation_classes"] == "on"
    off = get_strategy("protonet", rotation_classes=False, **{**TINY, "meta_ways": 8}).fit(episode, src)
    assert off.info_["meta_trained"]["classes"] == 2 and off.info_["meta_trained"]["ways"] == 2
    tabular = get_strategy("protonet", **{**TINY, "source_classes": ""})
    assert tabular._source_task(Source(task_name="wine")).n_classes == 3  # tabular: not rotated
    assert tabular._rotation_note.startswith("skipped")


def test_pretraining_stage_trains_the_embedding_and_drops_its_head(src: Source, episode: Task) -> None:
    base = get_strategy("protonet", **TINY).fit(episode, src)
    pre = get_strategy("protonet", **{**TINY, "pretrain_epochs": 1}).fit(episode, src)
    facts = pre.info_["meta_trained"]["pretrain"]
    assert facts["epochs"] == 1 and facts["classes"] == 8 and facts["final_loss"] > 0
    assert "pretrain" not in base.info_["meta_trained"]
    assert pre._meta_cache[1].head is None  # the meta-trained embedding carries no classifier
    with torch.no_grad():
        assert not torch.allclose(base.model_.features(episode.x_test), pre.model_.features(episode.x_test))


def test_support_augmentation_changes_prototypes_not_meta_training(src: Source, episode: Task) -> None:
    plain = get_strategy("protonet", **TINY).fit(episode, src)
    tta = get_strategy("protonet", support_augment=3, **TINY).fit(episode, src)
    assert tta.info_["meta_trained"]["cached"] is True  # an adaptation option: same meta-trained model
    assert tta.info_["support_augment"] == 3
    assert not torch.allclose(tta.model_.output_layer.weight, plain.model_.output_layer.weight)
    with pytest.raises(ConfigError, match="support_augment=2 needs image data and augment light or strong"):
        get_strategy("protonet", support_augment=2, augment="none", **TINY).fit(episode, src)


def test_support_bn_uses_the_support_statistics(src: Source, episode: Task) -> None:
    s = get_strategy("protonet", support_bn=True, **TINY).fit(episode, src)
    assert s.info_["meta_trained"]["cached"] is False and s.info_["support_bn"] > 0
    model = s.model_
    conv, bn = model.backbone.stages[0][0], model.backbone.stages[0][1]
    with torch.no_grad():
        h = conv(model.prepare(episode.x_train))
    torch.testing.assert_close(bn.running_mean, h.mean(dim=(0, 2, 3)), atol=1e-5, rtol=1e-4)
    off = get_strategy("protonet", **TINY).fit(episode, src).model_
    assert not torch.allclose(off.backbone.stages[0][1].running_mean, bn.running_mean)


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="metric='manhattan' is not valid"):
        get_strategy("protonet", metric="manhattan")
    with pytest.raises(ConfigError, match="pretrain_epochs=-1 is out of range"):
        get_strategy("protonet", pretrain_epochs=-1)
