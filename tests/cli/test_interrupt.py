"""Ctrl-C: exit code 130, no traceback, one line — with a hint where the command can continue.

Real SIGINTs to the installed console script: during start-up imports, during ``pretrain`` (then
``--resume`` finishes the run) and during ``tune`` (then the same command continues the study).
The per-command lines of ``auto``, ``search``, ``tune`` and ``transfer`` are also checked
in-process, through ``main()``, with a registered task whose loading is interrupted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli._console import console_script, script_env
from warmstart.cli._common import CONTINUE_HINT, INTERRUPTED, RESUME_HINT
from warmstart.tasks import get_task, register_task

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def interrupt_when(argv: list[str], ready: Callable[[list[str]], bool], env: dict[str, str],
                   timeout: float = 180) -> tuple[int, list[str], str]:
    """Start ``warmstart ARGV``, send SIGINT once ``ready(stderr lines so far)`` holds.

    Returns:
        The exit code, the stderr lines and stdout.
    """
    # SIGINT at its default disposition in the child, as a terminal gives it: a test run started as a background
    # job of a non-interactive shell (`pytest &`) ignores SIGINT, a child inherits that, and Python then never
    # installs its KeyboardInterrupt handler (the command ran to its end, exit 0)
    proc = subprocess.Popen([console_script(), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while not ready(lines):
            if proc.poll() is not None:
                pytest.fail(f"finished before it could be interrupted: {proc.returncode} {''.join(lines)[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not ready within {timeout} s: {''.join(lines)[-2000:]}")
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        stdout = proc.stdout.read()  # type: ignore[union-attr]
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    return code, [line.rstrip("\n") for line in lines], stdout


def _module_done(lines: list[str], name: str) -> bool:
    """``PYTHONPROFILEIMPORTTIME`` prints a module's line when its import has finished."""
    return any(line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == name for line in lines)


def test_ctrl_c_during_startup_imports(tmp_path: Path) -> None:
    """Interrupted while torch is being imported (torch._C loaded; ~0.3 s of torch's own imports left): 130, one line.

    Whether the signal landed before or inside ``torch.nn``'s import cannot be read back from
    ``PYTHONPROFILEIMPORTTIME``: an import ended by the KeyboardInterrupt prints its line too (an
    earlier version of this test took that line for a finished import and failed on fast machines).
    That the command itself never started is checked: no output folder, nothing on stdout.
    """
    code, lines, stdout = interrupt_when(
        ["pretrain", "--task", "iris", "-o", str(tmp_path / "out"), "--epochs", "1", "--device", "cpu"],
        lambda ls: _module_done(ls, "torch._C"), script_env(PYTHONPROFILEIMPORTTIME="1"))
    rest = [line for line in lines if not line.startswith("import time:")]
    assert _module_done(lines, "torch._C")
    assert code == 130, (code, rest)
    assert rest == [INTERRUPTED], rest
    assert stdout == "" and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 digits images as an npz file: a task a subprocess can load."""
    d = get_task("digits")
    path = tmp_path_factory.mktemp("interrupt") / "digits300.npz"
    np.savez(path, X=d.x_train[:300].numpy(), y=d.y_train[:300].numpy())
    return path


def test_ctrl_c_in_pretrain_hints_resume_and_resume_finishes(digits_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "src"
    argv = ["pretrain", "--task", str(digits_npz), "-o", str(out), "--epochs", "30", "--batch-size", "32",
            "--device", "cpu"]
    state = out / ".resume" / "state.json"
    code, lines, stdout = interrupt_when(argv, lambda _: state.is_file(), script_env())
    assert code == 130, lines
    assert lines == [RESUME_HINT], lines
    assert stdout == "" and not (out / "meta.json").exists()
    # the hint holds: the same command with --resume continues and writes the checkpoint
    done = subprocess.run([console_script(), *argv, "--resume", "--json"], capture_output=True, text=True,
                          env=script_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "meta.json").is_file() and not (out / ".resume").exists()


def _counted_trials(storage: Path) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{storage}"
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    n = 0
    for summary in optuna.get_all_study_summaries(url):
        study = optuna.load_study(study_name=summary.study_name, storage=url)
        n += len(study.get_trials(deepcopy=False, states=states))
    return n


def test_ctrl_c_in_tune_keeps_trials_and_the_same_command_continues(tmp_path: Path) -> None:
    kb = tmp_path / "kb.db"
    argv = ["tune", "--task", "iris", "--strategy", "scratch", "--epochs", "2", "--storage", str(kb),
            "--pruner", "none", "--warm-start", "none", "--device", "cpu"]

    def two_trials(_: list[str]) -> bool:
        try:
            return kb.is_file() and _counted_trials(kb) >= 2
        except Exception:  # the database is being created
            return False

    code, lines, _ = interrupt_when([*argv, "--budget", "500"], two_trials, script_env())
    assert code == 130, lines
    assert lines[-1] == CONTINUE_HINT and not any("Traceback" in line for line in lines), lines
    kept = _counted_trials(kb)
    assert kept >= 2
    # the same command (budget: trials for the whole study) continues the study with one more trial
    more = subprocess.run([console_script(), *argv, "--budget", str(kept + 1), "--json"], capture_output=True,
                          text=True, env=script_env(), timeout=300)
    assert more.returncode == 0, more.stderr[-2000:]
    import json

    assert json.loads(more.stdout)["trials"]["counted"] == kept + 1
    assert _counted_trials(kb) == kept + 1


# --------------------------------------------------------------------------- in-process: each command's line

ARMED = {"on": False}
CTRL_C_TASK = "ctrl-c-while-loading"


@pytest.fixture()
def ctrl_c_task() -> Iterator[str]:
    """A registered task whose loading raises KeyboardInterrupt while the test runs (a tiny task otherwise)."""
    tiny = get_task("iris")

    def load():  # type: ignore[no-untyped-def]
        if ARMED["on"]:
            raise KeyboardInterrupt
        return tiny

    register_task(CTRL_C_TASK, load)
    ARMED["on"] = True
    try:
        yield CTRL_C_TASK
    finally:
        ARMED["on"] = False


@pytest.mark.parametrize("argv, line", [
    (["transfer", "--task", CTRL_C_TASK, "--strategy", "scratch"], INTERRUPTED),
    (["tune", "--task", CTRL_C_TASK, "--strategy", "scratch", "--budget", "2", "--storage", "{tmp}/kb.db"],
     CONTINUE_HINT),
    (["auto", "--task", CTRL_C_TASK, "--budget", "2", "--storage", "{tmp}/kb.db"], CONTINUE_HINT),
    (["search", "--source", "{src}", "--task", CTRL_C_TASK, "--budget", "2"], CONTINUE_HINT),
    (["pretrain", "--task", CTRL_C_TASK, "-o", "{tmp}/out"], INTERRUPTED),  # no epoch done: nothing to resume
])
def test_each_command_says_how_to_continue(argv: list[str], line: str, ctrl_c_task: str, tmp_path: Path,
                                           pretrained_source: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    args = [a.replace("{tmp}", str(tmp_path)).replace("{src}", str(pretrained_source)) for a in argv]
    run = run_cli(*args, "--device", "cpu") if argv[0] != "search" else run_cli(*args)
    assert run.code == 130, (run.stdout, run.stderr)
    assert run.stderr.splitlines() == [line] and run.stdout == ""
