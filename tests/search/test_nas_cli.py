"""``warmstart search`` in-process: JSON result, checkpoint with the architecture, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.cli.main import app


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _user_error(args: list[str], *fragments: str) -> None:
    code, out, err = _cli(*args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    assert "Traceback" not in out + err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_search_saves_a_checkpoint_recording_the_architecture(pretrained_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "best"
    code, stdout, err = _cli("search", "--source", str(pretrained_source), "--task", "digits", "--shots", "3",
                             "--strategy", "evolution", "--budget", "2", "--epochs", "1", "--then", "none",
                             "--baseline", "none", "--objective", "accuracy,params", "--json", "-o", str(out),
                             "--storage", str(tmp_path / "kb.db"))
    assert code == 0, err
    result = json.loads(stdout)
    assert result["n_trials"] == 2 and result["objectives"] == ["accuracy", "params"]
    ckpt = load_checkpoint(out)
    assert ckpt.meta["extra"]["architecture"]["resolved"] == result["architecture"]["resolved"]
    assert not list(tmp_path.glob("warmstart-nas-*"))


def test_search_help_has_an_example() -> None:
    code, out, _ = _cli("search", "--help")
    assert code == 0 and "Example:" in out and "warmstart search" in out


def test_search_bad_input(pretrained_source: Path, tmp_path: Path) -> None:
    base = ["search", "--source", str(pretrained_source), "--task", "digits", "--shots", "3", "--epochs", "1",
            "--then", "none", "--baseline", "none", "--storage", str(tmp_path / "kb.db")]
    _user_error([*base, "--budget", "0"], "budget")
    _user_error([*base, "--strategy", "annealing"], "unknown search strategy", "evolution")
    _user_error([*base, "--objective", "latency"], "accuracy/loss")
    _user_error([*base, "--budget", "0.001s"], "too small for one candidate")
    _user_error(["search", "--source", "/nonexistent", "--task", "digits"], "/nonexistent")
    _user_error([*base, "--budget", "1", "--baseline", "lora"], "unknown baseline 'lora'", "l2sp, finetune, none")


def test_cli_baselines_agree_with_the_library() -> None:
    from warmstart.cli.search import BASELINES
    from warmstart.search._baseline import BASELINES as LIB

    assert BASELINES == (*LIB, "none")


def test_search_baseline_option(pretrained_source: Path, tmp_path: Path) -> None:
    """``--baseline finetune``: the baseline trial runs finetune at its defaults and the result reports both scores."""
    code, stdout, err = _cli("search", "--source", str(pretrained_source), "--task", "digits", "--shots", "3",
                             "--strategy", "random", "--budget", "1", "--epochs", "1", "--then", "none",
                             "--baseline", "finetune", "--json", "--storage", str(tmp_path / "kb.db"))
    assert code == 0, err
    result = json.loads(stdout)
    assert result["baseline"]["strategy"] == "finetune" and result["baseline"]["params"] == {}
    choice = result["final_choice"]
    assert choice["winner"] in ("baseline", "candidate") and result["n_trials"] == 1
    assert choice["baseline"]["val_accuracy"] == result["baseline"]["val_accuracy"]
    assert choice["candidate"]["val_accuracy"] is not None
    winner = choice[choice["winner"]]
    assert result["val_accuracy"] == winner["val_accuracy"] and result["best_trial"] == winner["trial"]
