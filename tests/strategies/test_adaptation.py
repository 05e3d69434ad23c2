"""Input adaptation and bad input: a 3-channel 32×32 source transfers to 1-channel 28×28 digits
(and says what it adapted); an image source for a tabular target and out-of-range options are
refused with one clear line (CLI exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from warmstart.cli.main import app
from warmstart.engine import TrainConfig
from warmstart.errors import IncompatibleError
from warmstart.pretraining import pretrain_supervised
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task

FAST = {"epochs": 1, "min_steps": 2, "batch_size": 16, "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def colour_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smallcnn trained 1 epoch on a tiny random-colour task: 3×32×32, 4 colour classes."""
    g = torch.Generator().manual_seed(0)
    colours = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.float32)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 4, (n,), generator=g)
        x = colours[y].view(n, 3, 1, 1) * torch.rand(n, 1, 32, 32, generator=g)
        return x.clamp(0, 1), y

    (xtr, ytr), (xva, yva), (xte, yte) = make(64), make(16), make(16)
    task = Task("colours", xtr, ytr, xva, yva, xte, yte, ["red", "green", "blue", "yellow"], "image",
                (3, 32, 32))
    out = tmp_path_factory.mktemp("colour") / "src"
    pretrain_supervised(task, out, config=TrainConfig(epochs=1, batch_size=32, progress=False),
                        widths=(8, 16, 16))
    return out


def test_rgb_32px_source_transfers_to_grey_28px_digits(colour_source: Path, tiny_target: Task) -> None:
    for name in ("finetune", "linear_probe", "l2sp"):
        s = get_strategy(name, **{k: v for k, v in FAST.items() if k in get_strategy(name).get_params()})
        s.fit(tiny_target, Source(path=colour_source))
        notes = " | ".join(s.info_["adapted"])
        assert "grey images repeated to the source's 3 channels" in notes
        assert "resized from 28x28 to the source's 32x32" in notes
        assert "head replaced" in notes and s.info_["head"] == "new"
        proba = s.predict_proba(tiny_target.x_test[:8])
        assert proba.shape == (8, 10)


def test_image_source_for_tabular_target_names_both(pretrained_source: Path) -> None:
    wine = get_task("wine").few_shot(2, seed=0)
    with pytest.raises(IncompatibleError) as err:
        get_strategy("l2sp", **FAST).fit(wine, Source(path=pretrained_source))
    msg = str(err.value)
    assert "image" in msg and "tabular" in msg and "wine" in msg and "mnist5k" in msg
    assert "\n" not in msg


def test_cli_refuses_bad_options_with_the_valid_range(pretrained_source: Path) -> None:
    runner = CliRunner()
    base = ["transfer", "--source", str(pretrained_source), "--task", "digits", "--shots", "1"]
    cases = [
        (["--strategy", "l2sp", "--alpha", "-1"], "valid range"),
        (["--strategy", "llrd", "--lr", "-0.1"], "valid range"),
        (["--strategy", "bss", "--bogus", "1"], "valid options"),
        (["--strategy", "linear_probe", "--head", "maybe"], "choose one of"),
    ]
    for extra, expected in cases:
        res = runner.invoke(app, base + extra)
        assert res.exit_code == 2, res.output
        assert expected in res.output and "Traceback" not in res.output
