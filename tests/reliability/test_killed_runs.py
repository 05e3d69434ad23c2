"""Runs killed with SIGKILL: nothing finished is lost, nothing is left half-written, the same command continues.

The commands run in forked processes (the process boundary, and SIGKILL, are the
point); they are the CLI's own ``main`` with the same arguments a user types.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.cli.main import main
from warmstart.knowledge.storage import open_storage
from warmstart.search.runner import tune


def _cli(args: list[str]) -> None:
    os.environ["WARMSTART_NO_PROGRESS"] = "1"
    os._exit(main(args))


def _start(args: list[str]) -> mp.process.BaseProcess:
    p = mp.get_context("fork").Process(target=_cli, args=(args,))
    p.start()
    return p


def _kill_when(p: mp.process.BaseProcess, ready: object, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not ready():  # type: ignore[operator]
        assert p.is_alive(), f"the command ended (code {p.exitcode}) before it could be killed"
        assert time.monotonic() - t0 < timeout, "the command never reached the point to kill it"
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    assert p.exitcode == -signal.SIGKILL


def test_search_killed_mid_trial_resumes_with_the_same_command(sqlite_url: str, tmp_path: Path) -> None:
    # import everything a search needs once here, so the forked commands start at once
    tune("iris", "scratch", budget=1, warm_start="none", storage=f"journal:{tmp_path / 'warm.log'}",
         params={"epochs": 1, "min_steps": 0}, pruner="none", device="cpu")
    budget = 4
    args = ["tune", "--task", "iris", "--strategy", "scratch", "--budget", str(budget), "--storage", sqlite_url,
            "--warm-start", "none", "--pruner", "none", "--device", "cpu", "--epochs", "4", "--min-steps", "0"]
    storage = open_storage(sqlite_url)

    def trials() -> list[optuna.trial.FrozenTrial]:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage) if s.study_name.startswith("iris")]
        return optuna.load_study(study_name=names[0], storage=storage).get_trials() if names else []

    def mid_trial() -> bool:
        ts = trials()
        return any(t.state == TrialState.COMPLETE for t in ts) and any(t.state == TrialState.RUNNING for t in ts)

    _kill_when(_start(args), mid_trial)
    before = {t.number: (t.value, t.params) for t in trials() if t.state == TrialState.COMPLETE}
    interrupted = [t.number for t in trials() if t.state == TrialState.RUNNING]
    assert before and interrupted

    p = _start(args)  # the same command again
    p.join(timeout=120)
    assert p.exitcode == 0
    after = trials()
    by_number = {t.number: t for t in after}
    for n, (value, params) in before.items():  # every finished trial kept, unchanged
        assert by_number[n].state == TrialState.COMPLETE and (by_number[n].value, by_number[n].params) == (value,
                                                                                                            params)
    for n in interrupted:  # the interrupted one failed, with the reason
        assert by_number[n].state == TrialState.FAIL
        assert "died during the trial" in by_number[n].user_attrs["fail_reason"]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in after) == budget
    assert not [t for t in after if t.state == TrialState.RUNNING]
    assert len({t.number for t in after}) == len(after)


def test_pretrain_killed_leaves_no_half_written_file_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    args = ["pretrain", "--task", "iris", "--out", str(out), "--epochs", "6", "--device", "cpu", "--seed", "0"]
    _kill_when(_start(args), lambda: (out / ".resume" / "state.json").exists())
    visible = [p.name for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []
    assert visible == [] or sorted(visible) == ["meta.json", "model.safetensors"]  # nothing, or a whole checkpoint
    assert main([*args, "--resume"]) == 0
    ckpt = load_checkpoint(out)  # hash-checked
    assert ckpt.meta["source_task"] == "iris"
    assert not (out / ".resume").exists()
