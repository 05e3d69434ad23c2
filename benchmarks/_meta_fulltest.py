"""The test score of a meta-dataset run: the recipe refitted on every label, as a user would get it.

A run is scored as ``auto`` scores a trial (``validation="auto"``: k-fold, leave-one-out or a
split of the few labels), and :func:`warmstart.recipe.run_recipe` reports the test metrics of its
*first fold's* model, which was trained on part of the labels: at 1 label per class a
leave-one-out fold lacks a class entirely. Those are not the scores of the recipe: a prior fitted
on them learns that recipes which do not need target labels (domain adaptation) win at few shots
because the label-hungry ones lost a class, and an oracle over them is not what a user could get.

So every run also gets ``test_full``: the test metrics of the same recipe fit once on every label
(``validation="none"``; for a label-free run, whose one fold is the whole task, the run's own).
New runs record it as a trial attribute (:func:`full_test`); runs built before that get it from
:func:`backfill`, written to ``WORK/test_full/*.jsonl`` (a finished trial's attributes cannot
change), one file per shard so two processes never write the same file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

#: validation protocols whose first-fold model saw only part of the labels
HELD_OUT = ("split", "kfold", "loo")


def full_test(task: Any, recipe: Any, source: Any, validation: str, own_test: dict[str, float],
              device: str = "cpu") -> dict[str, float]:
    """Test metrics of ``recipe`` fit on every label of ``task``.

    Args:
        task: The target task (uncut: the recipe's shots and seed cut it).
        recipe: The run's recipe.
        source: Its source.
        validation: The protocol the run was scored with.
        own_test: The run's own test metrics: returned as they are when ``validation`` held no labels out.
        device: Torch device.
    """
    from warmstart.recipe import run_recipe

    if validation not in HELD_OUT:
        return dict(own_test)
    return dict(run_recipe(task, recipe, validation="none", source=source, device=device, keep_model=False).test)


class FullTests:
    """The backfilled full-fit test metrics under ``WORK/test_full/``, keyed by (study name, trial number)."""

    def __init__(self, work: Path) -> None:
        self.folder = work / "test_full"
        self.tests: dict[tuple[str, int], dict[str, float]] = {}
        for path in sorted(self.folder.glob("*.jsonl")) if self.folder.is_dir() else []:
            for line in path.read_text().splitlines():
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:  # a line cut by a kill: that run is redone
                        continue
                    self.tests[(str(row["study"]), int(row["trial"]))] = dict(row["test"])

    def get(self, study: str, trial: int) -> dict[str, float] | None:
        """The backfilled metrics of one trial, or None."""
        return self.tests.get((study, trial))

    def add(self, shard: str, study: str, trial: int, test: dict[str, float]) -> None:
        """Append one trial's metrics to this shard's file (one whole line)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{shard}.jsonl").open("a") as fh:
            fh.write(json.dumps({"study": study, "trial": trial, "test": test}) + "\n")
        self.tests[(study, trial)] = dict(test)


def missing(storage: Any, tests: FullTests, shard: tuple[int, int]) -> list[tuple[str, Any]]:
    """(study name, trial) of this shard's completed portfolio runs without full-fit test metrics."""
    import optuna
    from optuna.trial import TrialState

    from benchmarks._meta_portfolio import is_current
    from benchmarks._meta_store import KIND
    from benchmarks._shard import in_shard
    from warmstart.knowledge.records import SEP

    out = []
    for name in sorted(optuna.get_all_study_names(storage)):
        if not name.endswith(SEP + KIND):
            continue
        study = optuna.load_study(study_name=name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if "test_full" in t.user_attrs or tests.get(name, t.number) is not None or not is_current(
                    t.user_attrs.get("unit")):
                continue
            if in_shard(f"{name}|{t.number}", shard):
                out.append((name, t))
    return out


def backfill(storage: Any, work: Path, shard: tuple[int, int], hours: float | None = None,
             device: str = "cpu") -> dict[str, Any]:
    """Refit this shard's runs that lack ``test_full`` on every label; return counts.

    Each run's recipe (its source checkpoint, seed and shots) is read from its trial and run
    with ``validation="none"``; the result is appended as soon as it exists, so a stopped
    backfill continues where it was. Deterministic: the same seed gives the same model as a
    refit right after the run would.
    """
    from warmstart.errors import WarmstartError
    from warmstart.recipe import Recipe
    from warmstart.source import Source
    from warmstart.tasks import get_task

    tests = FullTests(work)
    todo = missing(storage, tests, shard)
    print(f"backfill shard {shard[0]}/{shard[1]}: {len(todo)} runs without a full-fit test score", file=sys.stderr)
    deadline = None if hours is None else time.monotonic() + hours * 3600
    sources: dict[str, Any] = {}
    tasks: dict[str, Any] = {}
    t0, done, failed = time.monotonic(), 0, 0
    for name, trial in todo:
        if deadline is not None and time.monotonic() >= deadline:
            break
        recipe = Recipe.from_json(trial.user_attrs["recipe"])
        task_name = name.split("@", 1)[0]
        if task_name not in tasks:
            tasks[task_name] = get_task(task_name)
        key = f"{recipe.source}|{recipe.source_task}"  # one checkpoint serves a task and its class subsets
        if key not in sources:
            sources[key] = Source(path=Path(str(recipe.source)), task_name=recipe.source_task, seed=0,
                                  spec=recipe.source_spec)
        try:
            test = full_test(tasks[task_name], recipe, sources[key], str(trial.user_attrs.get("validation")),
                             dict(trial.user_attrs.get("test") or {}), device=device)
        except (WarmstartError, RuntimeError, ValueError) as exc:
            failed += 1
            print(f"  {name} trial {trial.number}: refit failed: {exc}", file=sys.stderr, flush=True)
            continue
        tests.add(f"shard{shard[0]}of{shard[1]}", name, trial.number, test)
        done += 1
        if done % 25 == 0:
            el = time.monotonic() - t0
            print(f"  [{done}/{len(todo)}, {el / 60:.1f} min, ~{el / done * (len(todo) - done) / 60:.0f} min left]",
                  file=sys.stderr, flush=True)
    return {"refitted": done, "failed": failed, "left": len(todo) - done - failed,
            "minutes": (time.monotonic() - t0) / 60}
