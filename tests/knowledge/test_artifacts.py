from __future__ import annotations

import optuna
import pytest

from warmstart.errors import StorageError
from warmstart.knowledge import artifact_store, download_checkpoint, open_storage, upload_checkpoint


def test_checkpoint_roundtrip(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "model.safetensors").write_bytes(b"\x00\x01weights")
    (ckpt / "meta.json").write_text('{"a": 1}')
    store = artifact_store(tmp_path / "shared")
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path}/kb.db"))
    trial = study.ask()
    aid = upload_checkpoint(store, trial, ckpt)
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs["checkpoint_artifact"] == aid
    out = download_checkpoint(store, aid, tmp_path / "back")
    assert (out / "model.safetensors").read_bytes() == b"\x00\x01weights"
    assert (out / "meta.json").read_text() == '{"a": 1}'


def test_bad_artifact_locations(tmp_path):
    with pytest.raises(StorageError):
        artifact_store("ftp://host/x")
    with pytest.raises(StorageError):
        download_checkpoint(artifact_store(tmp_path / "s"), "no-such-id", tmp_path / "o")
    assert not (tmp_path / "o").exists()
