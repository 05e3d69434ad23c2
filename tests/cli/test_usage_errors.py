"""The console entry point turns parser errors into one line and exit code 2 (no usage box, no traceback)."""

from __future__ import annotations

import pytest

from warmstart.cli.main import main


@pytest.mark.parametrize("argv, needle", [
    (["transfer", "--task", "digits", "--shots", "abc"], "--shots"),
    (["tune", "--task", "wine", "--strategy", "scratch", "--jobs", "x"], "--jobs"),
    (["nope"], "No such command"),
    (["transfer"], "--task"),
    (["kb", "show"], "task"),
    (["export"], "model"),
])
def test_usage_errors_are_one_line_exit_2(argv, needle, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and needle in err
    assert "Traceback" not in err and "╭" not in err


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("warmstart ")
