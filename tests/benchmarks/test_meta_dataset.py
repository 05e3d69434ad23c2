"""benchmarks/meta_dataset.py: --quick end to end into a folder, a rerun resumes, the rows read back."""

from __future__ import annotations

import csv
import json

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from benchmarks import meta_dataset as bench
from benchmarks._meta_portfolio import COMBINATIONS, members, nas_members, sampled_params, unit_key
from benchmarks._meta_tasks import TARGETS, select_targets
from warmstart.knowledge import export_trials, open_storage, trial_rows
from warmstart.knowledge.records import list_records
from warmstart.recipe import Recipe
from warmstart.search.space import search_space
from warmstart.tasks import get_task


def _rows(folder) -> list[dict[str, str]]:
    return list(csv.DictReader(open(folder / "meta_dataset.csv")))


def test_quick_builds_resumes_and_reads_back(tmp_path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    rows = _rows(tmp_path)
    assert len(rows) == 6  # 2 tasks x 3 recipes at one shot level
    assert {r["task"] for r in rows} == {"digits[3,8]@5shots", "iris-b@5shots"}
    assert {r["member"] for r in rows} == {"finetune#default", "linear_probe#default", "source_only#default"}
    for r in rows:
        assert r["validation"] == "kfold" and r["state"] == "COMPLETE" and r["shots"] == "5"
        assert 0.0 <= float(r["test_accuracy"]) <= 1.0 and float(r["seconds"]) > 0
        assert r["test_from"] == "full fit" and 0.0 <= float(r["test_first_fold_accuracy"]) <= 1.0
        assert r["mf_log_n_classes"] and r["family"] in ("digits", "iris")
        assert r["src_logme"] and r["src_leep"] and r["source"].startswith("sources/")
        recipe = json.loads(r["params"])
        assert recipe.get("epochs") in (None, 1)  # the quick per-run budget is in the recipe
    digits = [r for r in rows if r["family"] == "digits"]
    assert {r["source_task"] for r in digits} == {"mnist5k[3,8]"}  # DA needs the source's same classes
    text = (tmp_path / "README.md").read_text()
    assert "command:" in text and "| NO |" not in text and "## Rows per strategy and shots" in text

    # the knowledge base reads it back the usual way (warmstart kb export)
    storage = open_storage(tmp_path / "work" / "meta.db")
    assert len(trial_rows(storage)) == 6
    assert export_trials(storage, tmp_path / "export.csv") == 6
    recs = list_records(storage)
    assert {r.kind for r in recs} == {"portfolio"} and all(r.meta_features for r in recs)

    # a rerun skips every unit already stored: no new trial, same table
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    assert len(_rows(tmp_path)) == 6
    n_trials = sum(len(optuna.load_study(study_name=r.study_name, storage=storage).trials) for r in recs)
    assert n_trials == 6
    assert "0 runs" in (tmp_path / "README.md").read_text()

    # a fresh machine (no storage, the committed table): the table is written back, nothing is redone
    before = _rows(tmp_path)
    (tmp_path / "work" / "meta.db").unlink()
    assert bench.main(["--quick", "--out", str(tmp_path), "--report-only"]) == 0
    assert _rows(tmp_path) == before and "- total: 0 units" in (tmp_path / "README.md").read_text()

    # a table from before the unit column: a revised strategy's rows count as revision 1 and are redone, and so
    # are the rows from a tabular source (TABULAR_REVISION: the target's rows in the source's standardization)
    with open(tmp_path / "meta_dataset.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c for c in before[0] if c != "unit"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "unit"} for r in before)
    (tmp_path / "work" / "meta.db").unlink()
    assert bench.main(["--quick", "--out", str(tmp_path), "--report-only"]) == 0  # one task left: no 2x3 check
    left = _rows(tmp_path)
    assert {r["member"] for r in left} == {"finetune#default", "linear_probe#default"}
    assert {r["task"] for r in left} == {"digits[3,8]@5shots"}
    assert "- total: 4 units" in (tmp_path / "README.md").read_text()  # source_only on digits, all of iris


def test_a_shard_writes_the_whole_storage_and_lists_every_shard_pending(tmp_path) -> None:
    from benchmarks._shard import in_shard

    # the quick build's two cells (digits[3,8] and iris-b, 5 shots, seed 0): run a shard that owns one of them
    keys = ["digits[3,8]|5|0", "iris-b|5|0"]
    shard = next((i, n) for n in range(2, 64) for i in range(n) if [in_shard(k, (i, n)) for k in keys] == [True, False])
    assert bench.main(["--quick", "--out", str(tmp_path), "--shard", f"{shard[0]}/{shard[1]}"]) == 0
    assert len(_rows(tmp_path)) == 3  # one task x 3 recipes
    text = (tmp_path / "README.md").read_text()
    assert f"every unit of shard {shard[0]}/{shard[1]} is done" in text
    assert "total: 3 units" in text  # the other shard's cell is still pending, and Pending says so


def test_test_score_is_the_recipe_refit_on_every_label_and_old_runs_are_backfilled(tmp_path, monkeypatch) -> None:
    import benchmarks._meta_store as store

    # runs built before the full-fit score existed: simulated by a refit that fails (the run stands without it)
    def no_refit(*args, **kwargs):
        raise RuntimeError("no refit")

    monkeypatch.setattr(store, "full_test", no_refit)
    assert bench.main(["--quick", "--out", str(tmp_path), "--tasks", "iris-b"]) == 1  # the check says: missing
    rows = _rows(tmp_path)
    assert len(rows) == 3 and all(r["test_from"].startswith("missing") and not r["test_accuracy"] for r in rows)
    assert all(r["test_first_fold_accuracy"] for r in rows)
    monkeypatch.undo()

    assert bench.main(["--quick", "--out", str(tmp_path), "--tasks", "iris-b", "--backfill-test"]) == 0
    rows = _rows(tmp_path)
    assert all(r["test_from"] == "full fit" for r in rows)
    assert len(list((tmp_path / "work" / "test_full").glob("*.jsonl"))) == 1
    # the backfilled score is the recipe fit on every label (validation "none"), not the first fold's model
    from benchmarks._meta_tasks import prepare_source
    from warmstart.recipe import run_recipe
    from warmstart.source import Source

    row = next(r for r in rows if r["member"] == "finetune#default")
    recipe = Recipe("finetune", json.loads(row["params"]), source_task="iris-a", shots=5, seed=0)
    src = Source(path=prepare_source(tmp_path / "work", "iris-a", quick=True), task_name="iris-a", seed=0)
    full = run_recipe("iris-b", recipe, validation="none", source=src, keep_model=False)
    assert float(row["test_accuracy"]) == pytest.approx(full.test["accuracy"])
    # a new run records it itself: nothing left to backfill
    from benchmarks._meta_fulltest import FullTests, missing

    storage = open_storage(tmp_path / "work" / "meta.db")
    assert missing(storage, FullTests(tmp_path / "work"), (0, 1)) == []


def test_interrupted_run_is_repeated_not_counted(tmp_path) -> None:
    from benchmarks._meta_store import open_study

    storage = open_storage(tmp_path / "work" / "meta.db")
    first = members(3, quick=True)[0]
    key = unit_key(first.recipe(source="", source_task="iris-a", shots=5, seed=0))
    study = open_study(storage, "iris-b", 5, None, {})
    killed = study.ask()  # a killed process leaves its trial RUNNING
    killed.set_user_attr("unit", key)
    assert bench.main(["--quick", "--out", str(tmp_path), "--tasks", "iris-b"]) == 0
    trials = optuna.load_study(study_name=study.study_name, storage=storage).trials
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs.get("interrupted") is True
    assert len(trials) == 4 and [t.user_attrs["unit"] for t in trials].count(key) == 2
    assert len(_rows(tmp_path)) == 3
    assert bench.main(["--quick", "--out", str(tmp_path), "--tasks", "iris-b"]) == 0  # nothing left to run
    assert len(optuna.load_study(study_name=study.study_name, storage=storage).trials) == 4


def test_hours_budget_stops_between_units(tmp_path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path), "--hours", "0"]) == 0
    assert not (tmp_path / "meta_dataset.csv").read_text().strip().splitlines()[1:]
    assert "rerun to continue" in (tmp_path / "README.md").read_text()


def test_bad_arguments_are_refused_before_any_work(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--out", str(tmp_path), "--tasks", "nosuch"])
    assert "matches no target" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--out", str(tmp_path), "--shard", "2/2"])
    assert not (tmp_path / "work").exists()


def test_targets_load_and_cover_the_families() -> None:
    assert len(TARGETS) == 33 and len({t.name for t in TARGETS}) == 33
    assert {t.family for t in TARGETS} == {"digits", "mnist5k-b", "mnist5k", "breast_cancer", "wine", "iris",
                                           "penguins", "crabs", "pima"}
    for t in TARGETS:
        if "[" in t.name:  # subsets: canonical names, and source data with the same classes
            task, src = get_task(t.name), get_task(t.source_task)
            assert task.name == t.name and src.classes == task.classes and task.n_classes in (2, 5)
    assert [t.name for t in select_targets(["mnist5k-b*"])][:2] == ["mnist5k-b", "mnist5k-b-inverted"]
    assert [t.name for t in select_targets(["digits"])] == ["digits"]  # a name first, then a family
    assert [t.name for t in select_targets(["wine"])] == ["wine-b", "wine-b[class_0,class_1]"]
    assert [t.name for t in select_targets(["digits[3,8]"])] == ["digits[3,8]"]  # brackets match literally


def test_portfolio_is_the_same_on_every_task_and_seeded() -> None:
    a, b = members(3), members(3)
    assert [m.params for m in a] == [m.params for m in b]  # sampled once per strategy, seeded
    ids = [m.id for m in a]
    assert len(ids) == len(set(ids))
    strategies = {m.strategy for m in a}
    assert {"finetune", "l2sp", "lora", "multitask", "fixmatch", "dann", "mcc", "self_training"} <= strategies
    assert not strategies & {"protonet", "maml", "nas_candidate"}  # meta-learners skipped; NAS separately
    assert sum(m.tier == 0 for m in a) == len(strategies) + len(COMBINATIONS)  # one default each, the combinations
    combo = next(m for m in a if m.id == "self_training#mcc")
    assert combo.params == {**next(d.params for d in a if d.id == "self_training#default"), "mcc": 1.0}
    for m in a:
        if m.tier == 1:
            assert m.params != next(d.params for d in a if d.id == f"{m.strategy}#default")
    lp = sampled_params("finetune", 5, {"epochs": 10})
    lr = search_space("finetune")["lr"]
    assert isinstance(lr, FloatDistribution)
    assert all(lr.low <= p["lr"] <= lr.high for p in lp) and len({p["lr"] for p in lp}) == 5
    assert not any("iterations" in p for p in sampled_params("dann", 3, {"iters_per_epoch": 50}))
    assert [m.architecture for m in nas_members(3)] == [{"cut": 3, "freeze": 2}, {"cut": 3, "freeze": 1},
                                                        {"cut": 2, "freeze": 0}, {"cut": 2, "freeze": 1}]


def test_unit_key_ignores_where_the_checkpoint_lies() -> None:
    r = Recipe("finetune", {"lr": 0.01}, source="/a/sources/mnist5k", source_task="mnist5k", shots=5, seed=1)
    assert unit_key(r) == unit_key(r.replace(source="/b/sources/mnist5k"))
    assert unit_key(r) != unit_key(r.replace(seed=0)) != unit_key(r.replace(source_task="digits"))


def test_a_revised_strategy_s_old_runs_are_redone_and_leave_the_table() -> None:
    from benchmarks._meta_portfolio import REVISION, is_current

    revised = next(iter(REVISION))
    new = Recipe(revised, {"epochs": 1}, source_task="mnist5k", shots=5, seed=0)
    old = json.loads(unit_key(new))
    assert old.pop("revision") == REVISION[revised][0]
    old_key = json.dumps(old, sort_keys=True)  # the key its runs were recorded under before the revision
    assert unit_key(new) != old_key  # so the run is pending again
    assert is_current(unit_key(new)) and not is_current(old_key)
    plain = unit_key(Recipe("l2sp", {}, source_task="mnist5k", shots=5, seed=0))
    assert "revision" not in json.loads(plain) and is_current(plain) and is_current(None)
