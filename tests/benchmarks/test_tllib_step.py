"""benchmarks/tllib_step.py: refuses without a TLlib checkout; times both steps on the same network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks import tllib_step as bench
from warmstart.tasks import load_task


def test_no_or_a_wrong_tllib_folder_is_one_line_and_exit_2(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        bench.main(["--quick", "--out", str(tmp_path)])
    assert info.value.code == 2 and "--tllib: give a TLlib checkout" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        bench.main(["--quick", "--out", str(tmp_path), "--tllib", str(tmp_path)])
    assert info.value.code == 2 and "is not a TLlib checkout" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def _tllib() -> Path | None:
    path = os.environ.get("TLLIB_PATH")
    return Path(path) if path and (Path(path) / "tllib").is_dir() else None


@pytest.mark.ci_may_skip  # TLlib is not on PyPI: a checkout named by TLLIB_PATH
@pytest.mark.skipif(_tllib() is None, reason="TLLIB_PATH names no TLlib checkout")
def test_both_steps_run_on_the_same_source_network(pretrained_source: Path) -> None:
    tl = bench.load_tllib(_tllib())  # type: ignore[arg-type]
    source, target = load_task("mnist5k-a"), load_task("mnist5k-b-inverted").few_shot(0, seed=0)
    theirs = bench.tllib_seconds(tl, pretrained_source, source, target, steps=3, seed=0)
    ours = bench.warmstart_seconds(pretrained_source, source, target, steps=3, seed=0, params=bench.TLLIB_NETWORK)
    assert 0.0 < theirs < 1e5 and 0.0 < ours < 1e5
