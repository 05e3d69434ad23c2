"""The CLI commands, in-process: listings, pretrain, transfer, --json, --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.strategies import list_strategies

COMMANDS = ["tasks", "backbones", "strategies", "pretrain", "transfer", "quickstart"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(command: str, run_cli) -> None:
    run = run_cli(command, "--help")
    assert run.code == 0
    assert "Example:" in run.stdout and f"warmstart {command}" in run.stdout


def test_top_level_help_lists_commands(run_cli) -> None:
    run = run_cli("--help")
    assert run.code == 0
    for command in COMMANDS:
        assert command in run.stdout


def test_tasks_table_and_json(run_cli) -> None:
    run = run_cli("tasks")
    assert run.code == 0 and "mnist5k" in run.stdout and "breast_cancer" in run.stdout
    rows = run_cli("tasks", "--json").json()
    names = {r["name"] for r in rows}
    assert {"mnist5k", "digits", "iris", "wine", "breast_cancer"} <= names
    assert all("-" not in n for n in names)
    digits = next(r for r in rows if r["name"] == "digits")
    assert digits["modality"] == "image" and digits["input_shape"] == [1, 28, 28] and len(digits["classes"]) == 10


def test_tasks_all_lists_variants(run_cli) -> None:
    names = {r["name"] for r in run_cli("tasks", "--all", "--json").json()}
    assert {"mnist5k-a", "mnist5k-b", "mnist5k-inverted", "mnist5k-b-inverted"} <= names


def test_backbones_table_and_json(run_cli) -> None:
    run = run_cli("backbones")
    assert run.code == 0 and "smallcnn" in run.stdout
    names = run_cli("backbones", "--json").json()
    assert {"smallcnn", "resnet", "mlp"} <= set(names)


def test_strategies_table_json_and_one_strategy(run_cli, user_error) -> None:
    run = run_cli("strategies")
    assert run.code == 0 and "finetune" in run.stdout and "scratch" in run.stdout
    table = run_cli("strategies", "--json").json()
    assert set(table) == set(list_strategies())
    one = run_cli("strategies", "finetune")
    assert one.code == 0 and "--lr" in one.stdout
    params = run_cli("strategies", "finetune", "--json").json()["finetune"]["params"]
    assert params["lr"]["low"] is not None and "epochs" in params
    user_error(run_cli("strategies", "nosuch"), "unknown strategy 'nosuch'", "finetune")


def test_pretrain_then_transfer_from_it(tiny_task: str, tmp_path: Path, run_cli) -> None:
    out = tmp_path / "src"
    run = run_cli("pretrain", "--task", tiny_task, "--epochs", "1", "--batch-size", "32", "-o", str(out),
              "--device", "cpu", "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["task"] == tiny_task and res["backbone"] == "smallcnn" and 0 <= res["test"]["accuracy"] <= 1
    ckpt = load_checkpoint(out)
    assert ckpt.sha256 == res["sha256"] and ckpt.meta["source_task"] == tiny_task
    # transfer from the folder just written: its weights (by hash) and its head (same classes) are used
    tr = run_cli("transfer", "--source", str(out), "--task", "digits", "--shots", "2", "--epochs", "1",
                 "--min-steps", "2", "--device", "cpu", "--json")
    assert tr.code == 0, tr.stderr
    moved = tr.json()
    assert moved["info"]["source_sha256"] == res["sha256"] and moved["info"]["source"] == f"checkpoint {out}"
    assert moved["info"]["head"] == "reuse" and moved["task"] == "digits"
    assert 0 <= moved["test"]["accuracy"] <= 1
    # human output; a tabular task gets the mlp backbone; an existing checkpoint folder may be replaced
    again = run_cli("pretrain", "--task", "iris", "--epochs", "1", "-o", str(out), "--device", "cpu")
    assert again.code == 0, again.stderr
    flat = " ".join(again.stdout.split())  # rich wraps long lines
    assert "saved" in flat and "(mlp on iris)" in flat and "test accuracy" in flat
    assert load_checkpoint(out).meta["source_task"] == "iris"


def test_pretrain_resume_without_state_is_a_user_error(tiny_task: str, tmp_path: Path, run_cli, user_error) -> None:
    line = user_error(run_cli("pretrain", "--task", tiny_task, "-o", str(tmp_path / "x"), "--resume",
                                 "--epochs", "1", "--device", "cpu"), "no interrupted run to resume")
    assert str(tmp_path / "x") in line


def test_transfer_json(pretrained_source: Path, tmp_path: Path, run_cli) -> None:
    out = tmp_path / "model"
    run = run_cli("transfer", "--source", str(pretrained_source), "--task", "digits", "--shots", "2",
              "--strategy", "finetune", "--epochs", "1", "--min-steps", "5", "--device", "cpu",
              "-o", str(out), "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["strategy"] == "finetune" and res["shots"] == 2 and res["task"] == "digits"
    assert res["params"]["min_steps"] == 5 and res["params"]["epochs"] == 1
    assert set(res["test"]) >= {"accuracy", "balanced_accuracy", "macro_f1", "ece", "nll"}
    assert res["info"]["head"] == "reuse"  # digits classes match the mnist head
    assert load_checkpoint(out).meta["extra"]["strategy"] == "finetune"


def test_transfer_table_scratch_with_option(pretrained_source: Path, run_cli) -> None:
    run = run_cli("transfer", "--source", str(pretrained_source), "--task", "digits", "--shots", "2",
              "--strategy", "scratch", "--epochs", "1", "--min-steps", "5", "--lr", "0.01", "--device", "cpu")
    assert run.code == 0, run.stderr
    assert "test accuracy" in run.stdout and "scratch on digits" in run.stdout


def test_transfer_lr_option_reaches_the_strategy(pretrained_source: Path, tmp_path: Path, run_cli) -> None:
    """--lr is parsed to a float, used for training (other lr, other weights) and recorded in the checkpoint."""
    import torch

    def trained(lr: str) -> tuple[dict, dict[str, torch.Tensor]]:
        out = tmp_path / f"lr{lr}"
        run = run_cli("transfer", "--source", str(pretrained_source), "--task", "digits", "--shots", "2",
                      "--strategy", "scratch", "--epochs", "1", "--min-steps", "3", "--lr", lr, "--device", "cpu",
                      "-o", str(out), "--json")
        assert run.code == 0, run.stderr
        return run.json(), load_checkpoint(out).model.state_dict()

    res, fast = trained("0.01")
    assert res["params"]["lr"] == 0.01
    assert load_checkpoint(tmp_path / "lr0.01").meta["extra"]["params"]["lr"] == 0.01
    res_slow, slow = trained("1e-06")
    assert res_slow["params"]["lr"] == 1e-06
    # same seed, same initialization: only the learning rate differs, so the trained weights must too
    assert any(not torch.equal(fast[k], slow[k]) for k in fast if fast[k].is_floating_point())


def test_same_seed_same_transfer_result(pretrained_source: Path, run_cli) -> None:
    args = ("transfer", "--source", str(pretrained_source), "--task", "digits", "--shots", "2", "--epochs", "1",
            "--min-steps", "5", "--device", "cpu", "--seed", "3", "--json")
    a, b = run_cli(*args).json(), run_cli(*args).json()
    assert a["test"] == b["test"]


def test_cli_copies_of_library_names_agree() -> None:
    """The CLI keeps a few names for --help without importing torch; they must match the library's."""
    from warmstart.cli.export import FORMATS as CLI_FORMATS
    from warmstart.cli.pretrain import RESUME_STATE
    from warmstart.cli.search import STRATEGIES as CLI_STRATEGIES
    from warmstart.export.exporter import FORMATS
    from warmstart.pretraining._resume import STATE_J
    from warmstart.pretraining.supervised import RESUME_DIR
    from warmstart.search.nas import STRATEGIES

    assert CLI_FORMATS == FORMATS and CLI_STRATEGIES == STRATEGIES
    assert RESUME_STATE == Path(RESUME_DIR) / STATE_J


def test_device_is_checked_before_any_work(run_cli, user_error) -> None:  # type: ignore[no-untyped-def]
    """--device cuda without a GPU: one line, and no source is pretrained first (nothing else on stderr)."""
    import torch

    if torch.cuda.is_available():  # a GPU machine: a device past the last one
        user_error(run_cli("transfer", "--source-task", "mnist5k", "--task", "digits", "--device", "cuda:99"),
                   "cuda:99")
        return
    user_error(run_cli("transfer", "--source-task", "mnist5k", "--task", "digits", "--device", "cuda"),
               "CUDA is not available")
    user_error(run_cli("tune", "--task", "iris", "--strategy", "scratch", "--budget", "1", "--device", "cuda"),
               "CUDA is not available")
