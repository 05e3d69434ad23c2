"""The auto benchmark's plan check (old vs new prior, no training): its refusal of a missing cached prior."""

from __future__ import annotations

import pytest

from benchmarks import auto_plan_check


def test_a_missing_cached_prior_is_one_clear_error(tmp_path, capsys) -> None:
    table = tmp_path / "meta.csv"
    table.write_text("task,strategy,test_accuracy\n")
    gains = tmp_path / "runs.jsonl"
    gains.write_text("")
    with pytest.raises(SystemExit) as exc:
        auto_plan_check.main(["--old-tag", "nosuch", "--out", str(tmp_path), "--table", str(table),
                              "--gains", str(gains)])
    assert exc.value.code == 2 and "no cached prior" in capsys.readouterr().err
