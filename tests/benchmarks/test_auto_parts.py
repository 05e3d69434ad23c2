"""The auto benchmark's pure parts: situations, leave-one-family-out rows, the oracle, paired targets, the first
trial (its run log: ``test_auto_run_log.py``)."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from benchmarks._auto_arms import few_tasks, first_trial_fit, first_trial_recipe, own_first_trial
from benchmarks._auto_report import (
    HERE,
    best_single,
    best_single_name,
    here_budget,
    paired_target,
    per_seed,
    seed_table,
    singles_table,
    situation_stats,
    summary_table,
    targets,
)
from benchmarks._auto_revisions import ARM_REVISION, AUTO_REVISION, FIRST_FIT, RunLog
from benchmarks._auto_situations import SITUATIONS, lofo_rows, oracle_accuracy, row_family, select_situations


def test_situations_name_their_family_and_cover_the_issue() -> None:
    names = {s.name for s in SITUATIONS}
    assert {"digits-5shot", "mnist5k-b-rotated-10shot", "digits-unlabelled", "digits-1shot",
            "mnist5k-b-inverted-10shot"} <= names
    fams = {s.name: s.family for s in SITUATIONS}
    assert fams["digits-1shot"] == "digits" and fams["mnist5k-b-inverted-10shot"] == "mnist5k-b"
    assert any(s.family in ("wine", "iris", "breast_cancer") for s in SITUATIONS)  # a tabular target
    assert [s.name for s in select_situations(None, quick=True)] == ["digits-5shot"]
    assert select_situations(["digits-1shot"])[0].key == "digits@1shots"
    with pytest.raises(ValueError, match="unknown situation 'nope'"):
        select_situations(["nope"])


def test_lofo_rows_leave_out_the_family_and_rows_of_unknown_family() -> None:
    rows = [{"task": "digits@5shots", "family": "digits"},
            {"task": "digits-blurred@1shots", "family": None},  # no family column: found by its task name
            {"task": "wine-b@5shots", "family": "wine"},
            {"task": "somethingelse@5shots", "family": ""}]  # unknown: never in a prior's training rows
    assert row_family(rows[1]) == "digits" and row_family(rows[3]) is None
    assert [r["task"] for r in lofo_rows(rows, "digits")] == ["wine-b@5shots"]
    assert [r["task"] for r in lofo_rows(rows, "wine")] == ["digits@5shots", "digits-blurred@1shots"]


def test_oracle_is_the_best_test_accuracy_of_the_cell() -> None:
    rows = [{"task": "digits@5shots", "seed": 0.0, "test_accuracy": 0.8},
            {"task": "digits@5shots", "seed": 0.0, "test_accuracy": 0.9},
            {"task": "digits@5shots", "seed": 1.0, "test_accuracy": 0.95},
            {"task": "digits@1shots", "seed": 0.0, "test_accuracy": 0.99},
            {"task": "digits@5shots", "seed": 0.0, "test_accuracy": None}]
    assert oracle_accuracy(rows, "digits@5shots", 0) == 0.9
    assert oracle_accuracy(rows, "digits@5shots", 2) is None


def test_few_tasks_keeps_a_few_task_keys_without_curves() -> None:
    rows = [{"task": f"t{i % 5}", "curve": "[0.1]"} for i in range(20)]
    kept = few_tasks(rows, 2)
    assert {r["task"] for r in kept} == {"t0", "t2"} and len(kept) == 8  # spread over the sorted keys
    assert all(r["curve"] is None for r in kept)


def test_equal_counts_stored_as_float32_match() -> None:
    """0.950 − 0.948, 0.950 − 0.952 and 0.972 − 0.972 on 500 test examples: one more, one fewer, the same. The
    float32 accuracies average to −2e-8, which is a tie, not a loss."""
    import numpy as np

    auto, single = np.float32([0.950, 0.950, 0.972]).tolist(), np.float32([0.948, 0.952, 0.972]).tolist()
    tie = paired_target(auto, single)
    assert tie["diff"] < 0 and tie["met"]  # float32 rounding, yet a match
    assert not paired_target(np.float32([0.950, 0.950, 0.970]).tolist(), single)["met"]  # one example fewer


def test_paired_target_needs_mean_and_lower_bound() -> None:
    assert paired_target([0.91, 0.915, 0.92], [0.9, 0.9, 0.9])["met"]
    worse = paired_target([0.80, 0.95, 0.90], [0.9, 0.9, 0.9])  # mean −0.0167, wide CI
    assert not worse["met"] and worse["lo"] < -0.01
    noisy = paired_target([0.95, 0.85, 0.95], [0.9, 0.9, 0.9])  # mean ≥ 0 but lower bound far below −0.01
    assert noisy["diff"] > 0 and not noisy["met"]
    one = paired_target([0.9], [0.8])
    assert math.isnan(one["lo"]) and not one["met"]  # one seed: no CI, never "met"


def _runs() -> list[dict]:
    out = []
    for seed, (p, n, f, a, b) in enumerate([(0.9, 0.85, 0.88, 0.86, 0.89), (0.92, 0.86, 0.9, 0.87, 0.9),
                                            (0.91, 0.85, 0.9, 0.86, 0.88)]):
        out += [{"situation": "s", "seed": seed, "arm": "auto_prior", "accuracy": p},
                {"situation": "s", "seed": seed, "arm": "auto_none", "accuracy": n},
                {"situation": "s", "seed": seed, "arm": "first_trial", "accuracy": f},
                {"situation": "s", "seed": seed, "arm": "single", "strategy": "a", "accuracy": a},
                {"situation": "s", "seed": seed, "arm": "single", "strategy": "b", "accuracy": b}]
    # a strategy better on the seeds it ran but missing one seed is not a candidate of the hindsight pick
    out += [{"situation": "s", "seed": 0, "arm": "single", "strategy": "c", "accuracy": 1.0}]
    return out


def test_best_single_and_targets_from_runs() -> None:
    wide = per_seed(_runs(), {("s", 0): 0.93, ("s", 1): 0.925, ("s", 2): None})
    assert best_single([r for r in wide if r["situation"] == "s"]) == ("b", [0.89, 0.9, 0.88])
    (s,) = situation_stats(wide)
    assert s["best_single"] == "b" and s["vs_best"]["diff"] == pytest.approx(0.02)
    # the oracle is the best recipe run on the cut: the meta-dataset's (seeds 0, 1), the singles and the first trial
    assert [r["oracle"] for r in wide] == [1.0, 0.925, 0.9] and [r["oracle_meta"] for r in wide] == [0.93, 0.925, None]
    assert s["oracle_gap"] == pytest.approx((0.1 + 0.005 - 0.01) / 3)
    assert s["first_vs_none"]["diff"] == pytest.approx((0.03 + 0.04 + 0.05) / 3)
    assert [t["met"] for t in targets([s])] == ["yes", "yes", "NOT met", "yes"]  # 3.2 points from the oracle
    assert [r["best single"] for r in seed_table(wide)] == [0.89, 0.9, 0.88]


def test_equal_time_budget_is_the_best_single_strategy_timed_on_this_machine() -> None:
    runs = [{**r, "seconds": 100.0 + 10 * r["seed"] if r.get("strategy") == "b" else 5.0} for r in _runs()]
    # b is the hindsight pick (c ran on one seed only)
    assert best_single_name(runs, "s", [0, 1, 2]) == "b"
    assert best_single_name(runs, "s", [0, 1, 2, 3]) is None  # seed 3 has no single strategies yet
    assert best_single_name(runs, "other", [0]) is None
    # its run on this machine sets the seed's budget: a one-thread run by its CPU seconds, else its wall seconds
    assert here_budget({"seconds": 130.2, "cpu_seconds": 100.4, "threads": 1}) == "101s"
    assert here_budget({"seconds": 130.2, "cpu_seconds": 190.0, "threads": 2}) == "131s"
    assert here_budget({"seconds": 3.0}) == "20s"  # auto's smallest budget


def test_auto_is_paired_with_the_best_single_strategy_rerun_on_this_machine() -> None:
    """With a rerun of the hindsight pick on every seed, auto is compared with it (the same run's baseline)."""
    here = [{"situation": "s", "seed": k, "arm": HERE, "strategy": "b", "accuracy": v}
            for k, v in enumerate((0.90, 0.91, 0.88))]
    (s,) = situation_stats(per_seed(_runs() + here, {}))
    assert s["best_single"] == "b" and s["single_here"] and s["single"] == [0.90, 0.91, 0.88]
    (row,) = summary_table([s])
    assert "(rerun on this machine)" in row["best single (hindsight)"]
    assert [r["best single"] for r in seed_table(per_seed(_runs() + here, {}))] == [0.90, 0.91, 0.88]
    (stored,) = situation_stats(per_seed(_runs() + here[:2], {}))  # one seed not rerun: the stored runs
    assert stored["single"] == [0.89, 0.9, 0.88] and not stored.get("single_here")
    assert [r["best single"] for r in seed_table(per_seed(_runs() + here[:2], {}))] == [0.89, 0.9, 0.88]


def test_the_equal_time_baseline_is_the_strategy_whose_time_auto_got() -> None:
    """An equal-time run for seeds 0-2 takes its budgets from the hindsight pick over every seed the single
    strategies ran on; where another strategy's mean over seeds 0-2 alone is higher, auto is still paired with the
    rerun of the strategy whose time it got (mnist5k-b-inverted-10shot, 2026-12-05: self_training's time, and a
    report that compared it with mcc)."""
    here = [{"situation": "s", "seed": k, "arm": HERE, "strategy": "a", "accuracy": v}
            for k, v in enumerate((0.70, 0.71, 0.72))]
    (s,) = situation_stats(per_seed(_runs() + here, {}))
    assert s["best_single"] == "a" and s["single_here"] and s["single"] == [0.70, 0.71, 0.72]


def test_targets_not_measured_without_the_prior_arm() -> None:
    runs = [r for r in _runs() if r["arm"] not in ("auto_prior", "first_trial")]
    met = [t["met"] for t in targets(situation_stats(per_seed(runs, {})))]
    assert met == ["not measured"] * 4


def test_an_auto_run_without_a_search_is_its_own_first_trial(tmp_path) -> None:
    from benchmarks._meta_portfolio import REVISION
    from benchmarks._revision import current_revision

    run = {"situation": "s", "seed": 0, "arm": "auto_prior", "auto_revision": AUTO_REVISION, "accuracy": 0.97,
           "seconds": 190.0, "label": "mcc from sources/mnist5k", "selection": "prior", "trials": 0,
           "budget": "540s", "first_trial": None}
    own = own_first_trial(run)
    assert own is not None
    assert (own["arm"], own["accuracy"], own["seconds"], own["label"]) == ("first_trial", 0.97, 190.0, run["label"])
    assert own["first_fit"] == FIRST_FIT and own["auto_revision"] == ARM_REVISION["first_trial"]
    assert "mcc" not in REVISION or own["revision"] == current_revision("mcc")
    log = RunLog(tmp_path / "runs.jsonl")
    log.add(own)
    assert RunLog(tmp_path / "runs.jsonl").get("s", 0, "first_trial")["accuracy"] == 0.97  # current as written
    assert own_first_trial({**run, "selection": "posterior", "trials": 30}) is None  # it searched: retrain trial 0
    assert own_first_trial({**run, "accuracy": None}) is None  # it failed: nothing to read


def test_a_run_chosen_by_the_source_reads_its_first_pick_from_the_phase(tmp_path) -> None:
    """Where the source-validation phase replaced the search, the first-trial arm is the phase's fit of the prior's
    first pick at the length auto's final fit would give it alone: full, or the trials' where its length gain is
    negative; a run without the phase's record has none."""
    import json

    run = {"situation": "t", "seed": 1, "arm": "auto_prior", "auto_revision": AUTO_REVISION, "accuracy": 0.85,
           "seconds": 30.0, "label": "soup of ...", "selection": "source", "trials": 0, "budget": "2m",
           "first_trial": None}
    fits = [{"strategy": "source_only", "source": "src", "length": "trial", "seconds": 0.1, "test_accuracy": 0.83},
            {"strategy": "source_only", "source": "src", "length": "full", "seconds": 4.0, "test_accuracy": 0.84},
            {"strategy": "dann", "source": "src", "length": "trial", "seconds": 0.2, "test_accuracy": 0.86}]
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"source_validation": {"fits": fits}}))
    own = own_first_trial(run, path)
    assert own is not None and (own["accuracy"], own["seconds"]) == (0.84, 4.0)
    assert own["label"] == "source_only (full) from src" and own["arm"] == "first_trial"
    kept = own_first_trial(run, path, gain_of=lambda s: -0.1)  # a negative gain keeps the trials' length
    assert kept is not None and kept["accuracy"] == 0.83 and "(trial)" in kept["label"]
    assert own_first_trial(run, tmp_path / "missing.json") is None


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_first_trial_recipe_is_the_lowest_numbered_trial(tmp_path) -> None:
    from warmstart.knowledge.storage import open_storage

    db = tmp_path / "kb.db"
    st = open_storage(str(db))
    assert first_trial_recipe(db) is None
    study = optuna.create_study(study_name="digits@5shots|auto", storage=st, direction="maximize")
    for i, strat in enumerate(["linear_probe", "finetune"]):
        t = study.ask()
        t.set_user_attr("recipe", {"strategy": strat, "params": {}, "seed": 0})
        study.tell(t, 0.5 + i / 10)
    first = first_trial_recipe(db)
    assert first == {"recipe": {"strategy": "linear_probe", "params": {}, "seed": 0}, "state": "COMPLETE",
                     "value": 0.5}


def test_oracle_target_waits_for_the_single_strategies() -> None:
    runs = [r for r in _runs() if r["arm"] != "single"]  # the oracle would lack the singles' runs
    met = [t["met"] for t in targets(situation_stats(per_seed(runs, {("s", 0): 0.5, ("s", 1): 0.5, ("s", 2): 0.5})))]
    assert met[2] == "not measured" and met[3] == "yes"


def test_check_strategies_names_the_first_unknown_one() -> None:
    from benchmarks._params import check_strategies

    check_strategies(["finetune", "l2sp"], "--singles")
    check_strategies(None, "--singles")
    with pytest.raises(ValueError, match="--singles: unknown strategy 'nope'; choose from"):
        check_strategies(["finetune", "nope"], "--singles")


def test_targets_wait_for_every_single_strategy_of_the_situation() -> None:
    """A strategy that has not run on every seed may be the best one: no hindsight pick, no budget, no target."""
    runs = [{**r, "seconds": 10.0} for r in _runs()]
    wide = per_seed(runs, {})
    (s,) = situation_stats(wide, {"s": ["a", "b", "c"]})
    assert s["singles_missing"] == ["c"] and s["best_single"] == "b"  # b is only the best so far
    met = [t["met"] for t in targets([s])]
    assert met[:3] == ["not measured"] * 3 and met[3] == "yes"  # the first-trial target needs no single strategy
    (row,) = summary_table([s])
    assert "so far: 1 strategies" in row["best single (hindsight)"] and row["matches"] == "—"
    assert best_single_name(runs, "s", [0, 1, 2], ["a", "b", "c"]) is None
    assert best_single_name(runs, "s", [0, 1, 2], ["a", "b"]) == "b"
    assert [r["seeds"] for r in singles_table(wide, {"s": ["a", "b", "c", "d"]})] == ["3/3", "3/3", "1/3", "0/3"]
    (complete,) = situation_stats(wide, {"s": ["a", "b"]})
    assert complete["singles_missing"] == [] and next(t["met"] for t in targets([complete])) == "yes"
    mixed = targets([s, complete])  # one situation complete, one waiting: no average over situations yet
    assert mixed[1]["met"] == "not measured" and "over 1 of 2 situations" in mixed[1]["measured"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_first_trial_fit_gets_the_rest_of_the_budget(tmp_path) -> None:
    """The first trial is retrained as auto's final fit would be, in what its run had left after that trial."""
    import json

    from warmstart.knowledge.storage import open_storage

    recipe = {"strategy": "fixmatch", "params": {"iterations": 30, "epochs": 1, "lr": 0.01}, "seed": 0}

    def study_with(name: str, **attrs: float) -> Path:
        db = tmp_path / name
        study = optuna.create_study(study_name="digits@5shots|auto", storage=open_storage(str(db)),
                                    direction="maximize")
        t = study.ask()
        for k, v in {"recipe": recipe, **attrs}.items():
            t.set_user_attr(k, v)
        study.tell(t, 0.7)
        return db

    assert first_trial_fit(tmp_path / "none.db", tmp_path / "run.json", "2m", 50) is None  # no study
    unfit = study_with("unfit.db", wall_seconds=10.0)
    assert first_trial_fit(unfit, tmp_path / "run.json", "2m", 50) is None  # no fit seconds: not retrained
    db = study_with("kb.db", fit_seconds=5.0, wall_seconds=10.0)
    (tmp_path / "run.json").write_text(json.dumps({"time": {"setup": 5.0, "ranking": 2.0, "search": 60.0}}))
    # 120 s − 3 s kept to finish − 7 s before the search − 10 s of the trial: 100 s, the work of 20 fits of 5 s,
    # less than the full length's 1,000 steps (33 trials of 30)
    recipe_out, note = first_trial_fit(db, tmp_path / "run.json", "2m", 50)
    steps = recipe_out["params"]["iterations"]
    assert 30 < steps < 3000 and recipe_out["params"]["lr"] == 0.01 and "steps of its full length" in note
    full, note = first_trial_fit(db, tmp_path / "run.json", "30m", 50)  # the full length fits in 30 minutes
    assert "iterations" not in full["params"] and "full length" in note
    same, note = first_trial_fit(db, tmp_path / "run.json", "2m", 50, {"iterations": 30})  # the user fixed it
    assert same["params"]["iterations"] == 30 and "trials' length" in note
