"""The same command with the same seed gives identical results on CPU (timings aside).

The first run goes through :func:`warmstart.cli.main.main` in this process, the
second through the installed ``warmstart`` console script in a fresh process:
torch seeds its global generator at random in every process, so a result that
depends on it only shows in a second process. Every trial of a study is
compared (number, state, params, value), and a run with another seed must
differ, so the equalities cannot hold vacuously. See also
``test_reproducible_cli.py`` (every training command on an image folder).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from PIL import Image

from warmstart.cli.main import main

TIMING = ("seconds", "time", "fit_seconds", "date", "created", "storage", "duration")


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not any(t in k for t in TIMING)}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _run(*args: str) -> Any:
    """``warmstart ARGS --json`` through ``main()`` in this process; the parsed result."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--json"])
    assert code == 0, err.getvalue()[-2000:]
    return _strip(json.loads(out.getvalue()))


def _run_fresh(*args: str, cache: Path) -> Any:
    """``warmstart ARGS --json`` as a fresh process of the console script, with its own cache."""
    script = Path(sys.executable).parent / "warmstart"
    exe = str(script) if script.exists() else shutil.which("warmstart")
    assert exe, "the warmstart console script is not installed (pip install -e .)"
    env = {**os.environ, "WARMSTART_CACHE": str(cache), "WARMSTART_NO_PROGRESS": "1", "WARMSTART_THREADS": "1"}
    proc = subprocess.run([exe, *args, "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return _strip(json.loads(proc.stdout))


def _trials(url: str, study: str) -> list[tuple[Any, ...]]:
    """(number, state, params, value) of every trial of a study."""
    from warmstart.knowledge.storage import open_storage

    loaded = optuna.load_study(study_name=study, storage=open_storage(url, create=False))
    return [(t.number, t.state.name, t.params, t.value) for t in loaded.get_trials(deepcopy=False)]


def test_transfer_same_seed_same_result(tmp_path: Path) -> None:
    args = ("transfer", "--task", "wine", "--strategy", "scratch", "--epochs", "3", "--min-steps", "0",
            "--device", "cpu", "--seed", "7")
    first = _run(*args)
    assert _run_fresh(*args, cache=tmp_path / "cache") == first
    other = _run(*args[:-1], "8")
    assert other["test"] != first["test"]  # the seed matters (so the equality above is not vacuous)


def test_tune_same_seed_same_trials(tmp_path: Path) -> None:
    def args(i: int, seed: int) -> list[str]:
        return ["tune", "--task", "iris", "--strategy", "scratch", "--budget", "3",
                "--storage", f"journal:{tmp_path / f'kb{i}.log'}", "--warm-start", "none", "--pruner", "none",
                "--device", "cpu", "--epochs", "2", "--min-steps", "0", "--seed", str(seed)]

    first = _run(*args(0, 5))
    second = _run_fresh(*args(1, 5), cache=tmp_path / "cache")
    other = _run(*args(2, 6))
    assert first == second and first["best_params"]
    assert other["best_params"] != first["best_params"]
    study = first["study"]
    trials = [_trials(f"journal:{tmp_path / f'kb{i}.log'}", study) for i in range(3)]
    assert len(trials[0]) == 3 and all(t[1] == "COMPLETE" and t[3] is not None for t in trials[0])
    assert trials[1] == trials[0]  # every trial: number, state, params, value
    assert [t[:2] for t in trials[2]] == [t[:2] for t in trials[0]]
    assert all(a[2] != b[2] for a, b in zip(trials[0], trials[2], strict=True))  # another seed, other params


def _digit_folder(root: Path, order: list[int]) -> None:
    """The same 12 images (3 classes) written in the file order ``order`` (a permutation of 0..11)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 6, 6), dtype=np.uint8)
    for i in order:
        folder = root / f"c{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"img{i:02d}.png")


def test_image_folder_does_not_depend_on_file_order(tmp_path: Path) -> None:
    """Directory listings follow creation order on some file systems: the loader must sort."""
    from warmstart.tasks import load_task

    _digit_folder(tmp_path / "a" / "data", list(range(12)))
    _digit_folder(tmp_path / "b" / "data", list(reversed(range(12))))
    for budget in (1024, 1e-6):  # in memory, and streaming from disk
        a, b = (load_task(tmp_path / x / "data", memory_budget_mb=budget) for x in "ab")
        assert [Path(f).name for f in getattr(a.x_train, "files", [])] == \
            [Path(f).name for f in getattr(b.x_train, "files", [])]
        for split in ("train", "val", "test"):
            assert (getattr(a, f"y_{split}") == getattr(b, f"y_{split}")).all()
            xa, xb = getattr(a, f"x_{split}"), getattr(b, f"x_{split}")
            assert len(xa) == len(xb) and all(bool((xa[i][0] == xb[i][0]).all()) for i in range(len(xa)))


def test_training_does_not_depend_on_the_global_rng() -> None:
    """torch seeds its global generator at random in every process: dropout must follow the config's seed."""
    import copy

    import torch
    from torch import nn

    from warmstart.engine import TrainConfig
    from warmstart.engine.trainer import Trainer

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    torch.manual_seed(0)
    init = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    weights = []
    for before in (1, 2):
        torch.manual_seed(before)  # what ran before training differs
        state = torch.get_rng_state()
        model = copy.deepcopy(init)
        Trainer(model, TrainConfig(epochs=3, batch_size=16, seed=4, progress=False)).fit(x, y)
        assert torch.equal(torch.get_rng_state(), state)  # the caller's global RNG is left as it was
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
    model = copy.deepcopy(init)
    Trainer(model, TrainConfig(epochs=3, batch_size=16, seed=5, progress=False)).fit(x, y)
    assert not torch.equal(torch.cat([p.detach().flatten() for p in model.parameters()]), weights[0])
