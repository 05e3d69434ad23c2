"""Supervised pretraining: checkpoint written and loadable, exact resume, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine import LambdaCallback, TrainConfig
from warmstart.errors import CheckpointError, ConfigError, IncompatibleError
from warmstart.pretraining import pretrain_supervised
from warmstart.pretraining.simclr import encoder_for
from warmstart.tasks import Task, get_task

WIDTHS = (8, 8, 16)


@pytest.fixture(scope="module")
def tiny_mnist() -> Task:
    """A random 96/32/32 subset of mnist5k."""
    task = get_task("mnist5k")
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(task.y_train), generator=g)[:96]
    va = torch.randperm(len(task.y_val), generator=g)[:32]
    te = torch.randperm(len(task.y_test), generator=g)[:32]
    return task.replace(x_train=task.x_train[tr], y_train=task.y_train[tr], x_val=task.x_val[va],
                        y_val=task.y_val[va], x_test=task.x_test[te], y_test=task.y_test[te])


def config(epochs: int, augment: str = "light") -> TrainConfig:
    return TrainConfig(epochs=epochs, lr=3e-3, batch_size=32, augment=augment, seed=0, device="cpu",
                       progress=False)


def test_pretrain_writes_a_checkpoint_that_loads(tiny_mnist: Task, tmp_path: Path) -> None:
    out = tmp_path / "src"
    ckpt = pretrain_supervised(tiny_mnist, out, config=config(1), widths=WIDTHS)
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "model.safetensors"]  # no .resume left
    loaded = load_checkpoint(out)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["source_task"] == "mnist5k" and meta["classes"] == tiny_mnist.classes
    assert meta["backbone"]["name"] == "smallcnn" and meta["backbone"]["kwargs"]["widths"] == list(WIDTHS)
    assert meta["extra"]["method"] == "supervised" and len(meta["extra"]["history"]) == 1
    assert set(meta["metrics"]["test"]) >= {"accuracy", "balanced_accuracy", "macro_f1", "ece", "nll"}
    x = tiny_mnist.x_test[:8]
    ckpt.model.eval()
    loaded.model.eval()
    assert torch.equal(ckpt.model(x), loaded.model(x))
    # an existing checkpoint folder may be overwritten by a new run
    pretrain_supervised(tiny_mnist, out, config=config(1), widths=WIDTHS)
    load_checkpoint(out)


def stop_after_first_epoch(epoch: int, logs: dict, model: object) -> None:
    if epoch == 1:
        raise KeyboardInterrupt


@pytest.mark.parametrize("case", ["mnist-smallcnn", "iris-mlp"])
def test_interrupted_then_resumed_equals_uninterrupted(case: str, tiny_mnist: Task, tmp_path: Path) -> None:
    """Kill a 3-epoch run after epoch 1, resume it: the weights equal an uninterrupted run's exactly.

    The mlp has dropout (global RNG) and the CNN light augmentation (a generator), so both
    random states must be restored, and the best epoch must survive the interruption.
    """
    if case == "mnist-smallcnn":
        task, kw, aug = tiny_mnist, {"widths": WIDTHS}, "light"
    else:
        task, kw, aug = get_task("iris"), {}, "none"
    full = pretrain_supervised(task, tmp_path / "full", config=config(3, aug), **kw)

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        pretrain_supervised(task, out, config=config(3, aug), callbacks=[LambdaCallback(stop_after_first_epoch)],
                            **kw)
    assert [p.name for p in out.iterdir()] == [".resume"]  # nothing half-written: no checkpoint yet
    with pytest.raises(CheckpointError):
        load_checkpoint(out)
    resumed = pretrain_supervised(task, out, config=config(3, aug), resume=True, **kw)

    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ha, hb = full.meta["extra"]["history"], resumed.meta["extra"]["history"]
    assert [e["train_loss"] for e in ha] == [e["train_loss"] for e in hb]
    assert [e["val_accuracy"] for e in ha] == [e["val_accuracy"] for e in hb]
    assert full.meta["extra"]["best_epoch"] == resumed.meta["extra"]["best_epoch"]
    assert full.meta["metrics"] == resumed.meta["metrics"]
    assert not (out / ".resume").exists()


def test_resume_with_nothing_to_resume(tiny_mnist: Task, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"--resume: no interrupted run to resume in .*empty"):
        pretrain_supervised(tiny_mnist, tmp_path / "empty", config=config(1), resume=True, widths=WIDTHS)
    done = tmp_path / "done"
    pretrain_supervised(tiny_mnist, done, config=config(1), widths=WIDTHS)
    with pytest.raises(CheckpointError, match="no interrupted run"):
        pretrain_supervised(tiny_mnist, done, config=config(1), resume=True, widths=WIDTHS)


def test_resume_state_from_another_architecture_is_refused(tiny_mnist: Task, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        pretrain_supervised(tiny_mnist, out, config=config(2), callbacks=[LambdaCallback(stop_after_first_epoch)],
                            widths=WIDTHS)
    with pytest.raises(CheckpointError, match="does not fit this one"):
        pretrain_supervised(tiny_mnist, out, config=config(2), resume=True, widths=(8, 8, 8))


def test_refuses_to_overwrite_a_folder_that_is_not_a_checkpoint(tiny_mnist: Task, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not empty and not a checkpoint; refusing to overwrite it"):
        pretrain_supervised(tiny_mnist, out, config=config(1), widths=WIDTHS)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        pretrain_supervised(tiny_mnist, afile, config=config(1), widths=WIDTHS)


def test_text_encoder_on_image_task_is_incompatible(tmp_path: Path) -> None:
    with pytest.raises(IncompatibleError, match=r"^backbone hf:some/model is a text encoder; task 'digits' is "
                                                r"image data"):
        pretrain_supervised(get_task("digits"), tmp_path / "out", backbone="hf:some/model")
    assert not (tmp_path / "out").exists()
    with pytest.raises(IncompatibleError, match="text encoder; simclr pretrains on image data"):
        encoder_for(torch.rand(4, 1, 8, 8), "hf:some/model")
