"""benchmarks/auto.py --quick runs end to end, holds its checks, writes its tables and resumes."""

from __future__ import annotations

import csv
import json
import math

from benchmarks import auto as bench
from benchmarks._auto_report import HERE, run_seconds
from benchmarks._prior_rows import TABLE


def test_auto_benchmark_quick(tmp_path) -> None:
    # the auto arms alone, then the single strategies in two disjoint shards
    assert bench.main(["--quick", "--out", str(tmp_path), "--arms", "auto"]) == 0
    arms = {json.loads(line)["arm"] for line in (tmp_path / "runs.jsonl").read_text().splitlines()}
    assert "single" not in arms and "auto_none" in arms
    for shard in ("0/2", "1/2"):
        assert bench.main(["--quick", "--out", str(tmp_path), "--arms", "singles", "--shard", shard]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "digits-5shot" in text and "command:" in text and "## Targets" in text
    assert "## Checks" in text and "| NO |" not in text
    (row,) = list(csv.DictReader(open(tmp_path / "auto.csv")))
    assert float(row["auto_none"]) >= 0.15  # 10 classes: chance is 0.1
    assert row["single:finetune"] and row["single:linear_probe"]
    if TABLE.is_file():  # the prior fitted without the digits family, and its first trial retrained
        assert float(row["auto_prior"]) >= 0.15 and 0.0 <= float(row["first_trial"]) <= 1.0
    else:
        assert "no meta-dataset table" in text and not row["auto_prior"]
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert {r["arm"] for r in runs} >= {"auto_none", "single"}
    assert all(r["trials"] == 2 for r in runs if r["arm"].startswith("auto_"))
    assert sorted(r["strategy"] for r in runs if r["arm"] == "single") == ["finetune", "linear_probe"]  # once each
    # started again: every run is read back, none is redone
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(runs)
    # at equal time: the best single strategy, picked among the singles read from the first folder, runs again
    # here first, and its seconds are auto's budget (--arms none runs nothing: the note names the pick)
    eq = tmp_path / "equal-time"
    assert bench.main(["--quick", "--arms", "none", "--budget", "best-single", "--singles-from", str(tmp_path),
                       "--out", str(eq)]) == 0
    best = max(("finetune", "linear_probe"), key=lambda s: float(row[f"single:{s}"]))
    assert f"digits-5shot: each seed's budget is the seconds of {best}" in (eq / "README.md").read_text()
    (eq_row,) = list(csv.DictReader(open(eq / "auto.csv")))
    assert eq_row["single:finetune"] == row["single:finetune"] and not eq_row["auto_none"]
    assert not (eq / "runs.jsonl").exists()
    if TABLE.is_file():  # --arms prior: the rerun of the best single strategy, then auto with the prior in its time
        assert bench.main(["--quick", "--arms", "prior", "--budget", "best-single", "--singles-from", str(tmp_path),
                           "--out", str(eq)]) == 0
        eq_runs = [json.loads(line) for line in (eq / "runs.jsonl").read_text().splitlines()]
        here, auto = eq_runs
        assert (here["arm"], here["strategy"], auto["arm"]) == (HERE, best, "auto_prior") and here["cpu"]
        assert auto["budget"] == f"{max(math.ceil(run_seconds(here)), 20)}s"
        text = (eq / "README.md").read_text()
        assert "(rerun on this machine)" in text and "best_single_here s" in text


def test_equal_time_options_are_checked(tmp_path, capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as exc:
        bench.main(["--quick", "--singles-from", str(tmp_path), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and f"--singles-from: no runs.jsonl in {tmp_path}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        bench.main(["--quick", "--budget", "soon", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "--budget: budget 'soon' is not valid" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_sanity_checks_fail_on_wrong_trial_count_chance_accuracy_or_failed_run() -> None:
    row = {"situation": "s", "seed": 0, "arm": "auto_none", "trials": 2, "accuracy": 0.6, "n_classes": 10}
    single = {"situation": "s", "seed": 0, "arm": "single", "strategy": "finetune", "accuracy": 0.5}
    assert bench.sanity_checks([row, single], "2").ok
    assert not bench.sanity_checks([{**row, "trials": 1}], "2").ok
    assert not bench.sanity_checks([{**row, "accuracy": 0.1}], "2").ok
    assert bench.sanity_checks([{**row, "accuracy": 0.56, "n_classes": 2}], "2").ok
    assert not bench.sanity_checks([{**row, "accuracy": 0.5, "n_classes": 2}], "2").ok  # chance of 2 classes
    assert not bench.sanity_checks([row, {**row, "arm": "auto_prior", "accuracy": None, "error": "x"}], "2").ok
    assert not bench.sanity_checks([row, {**single, "accuracy": 1.5}], "2").ok
    assert bench.sanity_checks([row], "5m").ok  # a wall-time budget has no trial count to check


def test_auto_and_a_single_strategy_of_another_source_weights_fail_the_pairing_check() -> None:
    from benchmarks._auto_provenance import source_pairing

    auto_row = {"situation": "s", "seed": 0, "arm": "auto_prior", "trials": 0, "accuracy": 0.9, "n_classes": 10,
                "sources_sha256": {"mnist5k": "a"}}
    single = {"situation": "s", "seed": 0, "arm": "single", "strategy": "mcc", "accuracy": 0.9,
              "sources_sha256": {"mnist5k": "a"}}
    other_seed = {**single, "seed": 1, "sources_sha256": {"mnist5k": "b"}}  # not paired with seed 0
    legacy = {**single, "strategy": "dann", "sources_sha256": None}
    assert source_pairing([auto_row, single, other_seed, legacy]) == (1, 1, [])
    assert bench.sanity_checks([auto_row, single, legacy], "5m").ok
    moved = {**single, "sources_sha256": {"mnist5k": "b"}}  # pretrained again elsewhere
    assert source_pairing([auto_row, moved]) == (0, 0, ["s/0/mcc"])
    assert not bench.sanity_checks([auto_row, moved], "5m").ok


def test_the_threads_of_auto_and_its_singles_are_compared_pair_by_pair() -> None:
    from benchmarks._auto_provenance import thread_note, thread_pairing

    auto_row = {"situation": "s", "seed": 0, "arm": "auto_prior", "threads": 2}
    same = {"situation": "s", "seed": 0, "arm": "single", "strategy": "mcc", "threads": 2}
    one = {**same, "strategy": "dann", "threads": 1}
    legacy = {**same, "strategy": "cdan", "threads": None}
    other_seed = {**one, "seed": 1}  # not paired with seed 0
    assert thread_pairing([auto_row, same, one, legacy, other_seed]) == (1, 1, ["s/0/dann"])
    assert "1 pairs the same, 1 unknown" in thread_note([auto_row, same, one, legacy])
    assert "1 different (s/0/dann)" in thread_note([auto_row, same, one, legacy])


def test_bad_shard_is_refused(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as exc:
        bench.main(["--quick", "--shard", "2/2"])
    assert exc.value.code == 2 and "--shard '2/2'" in capsys.readouterr().err


def test_the_provenance_states_the_load_each_timed_run_ended_with() -> None:
    old = {"arm": "auto_none", "accuracy": 0.9}
    runs = [{"arm": "auto_prior", "load_1m": 2.1}, {"arm": "first_trial", "load_1m": 3.4}, old,
            {"arm": "single", "load_1m": 9.0}]  # a single strategy's accuracy does not depend on load
    assert bench.load_note(runs) == ("1-minute load at the end of each auto run: at most 3.40 over 2 runs "
                                     "(1 earlier runs did not record it)")
    assert bench.load_note([old]) == "1-minute load at the auto runs' ends: not recorded"
    assert bench.load_note([]) == "no auto run"
