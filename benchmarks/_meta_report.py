"""The meta-dataset's committed table: rows through ``trial_rows``, extra columns, counts, cost estimate."""

from __future__ import annotations

import argparse
import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from benchmarks._meta_fulltest import FullTests
from benchmarks._meta_portfolio import is_current
from benchmarks._meta_store import DONE_STATES, KIND
from benchmarks._report import Checks, markdown_table, provenance
from warmstart.knowledge.records import list_records
from warmstart.knowledge.trials import columns, trial_rows

#: cost of a unit nothing has been measured for yet (CPU seconds)
DEFAULT_COST = 10.0

# CPU seconds of one run (one thread, every validation fold and the test evaluation) at the
# per-run budgets of benchmarks/_meta_portfolio.py, measured on the build machine (2 cores, shared)
# on digits targets from the mnist5k source at 1, 5 and 20 labels per class (kfold / loo), the
# unlabelled strategies without labels (label-free), and wine-b at 10 labels per class.
_IMAGE = {"scratch": (2.7, 7.2, 9.3), "finetune": (2.4, 5.9, 7.4), "linear_probe": (1.3, 1.2, 1.2),
          "gradual_unfreeze": (2.5, 5.4, 6.5), "l2sp": (2.4, 5.6, 7.8), "llrd": (2.3, 5.5, 7.9),
          "bss": (2.3, 5.8, 7.9), "lora": (2.6, 7.8, 9.5), "multitask": (4.0, 12.2, 15.9),
          "fixmatch": (8.0, 9.2, 8.6), "source_only": (15.5, 16.0, 17.2), "dann": (16.2, 16.6, 19.6),
          "cdan": (16.8, 17.2, 19.8), "mcc": (16.2, 16.4, 19.3), "self_training": (20.4, 24.3, 21.9),
          "nas_candidate": (0.8, 1.3, 3.7)}
_IMAGE_0 = {"source_only": 9.7, "dann": 6.9, "cdan": 6.7, "mcc": 6.0, "self_training": 6.5}
_TABULAR = {"scratch": 0.7, "finetune": 0.7, "linear_probe": 0.1, "gradual_unfreeze": 1.2, "l2sp": 0.9,
            "llrd": 0.7, "bss": 0.8, "lora": 2.5, "multitask": 0.8, "source_only": 0.4, "dann": 0.8,
            "cdan": 1.0, "mcc": 0.5, "nas_candidate": 0.4}
MEASURED: dict[tuple[str, bool, int], float] = {
    **{(s, True, k): v for s, vs in _IMAGE.items() for k, v in zip((1, 5, 20), vs, strict=True)},
    **{(s, True, 0): v for s, v in _IMAGE_0.items()},
    **{(s, False, k): v for s, v in _TABULAR.items() for k in (0, 10)},
}


def _trials(storage: BaseStorage, states: Iterable[TrialState]) -> list[tuple[str, str, Any]]:
    """(study name, task key, frozen trial) of every portfolio study's trials in ``states``."""
    out = []
    wanted = tuple(states)
    for rec in list_records(storage, KIND, counts=False):
        study = optuna.load_study(study_name=rec.study_name, storage=storage)
        out += [(rec.study_name, rec.task, t) for t in study.get_trials(deepcopy=False, states=wanted)]
    return out


def table(storage: BaseStorage, work: Path | None = None) -> list[dict[str, Any]]:
    """The rows of :func:`warmstart.knowledge.trials.trial_rows` for the portfolio studies, with extras.

    Extra columns: ``unit`` (the resume key, so :mod:`benchmarks._meta_restore` can rebuild the storage),
    ``member``, ``tier``, ``family``, ``source_name``, ``src_logme``, ``src_leep``,
    ``src_gap`` and ``cpu_seconds``; ``source`` (a checkpoint folder on the building machine) becomes
    ``sources/<source_name>``. The ``test_*`` columns are the recipe refit on every label
    (:mod:`benchmarks._meta_fulltest`: the trial's ``test_full``, else the backfill under ``work``),
    blank when neither exists; ``test_first_fold_accuracy`` keeps the first fold's model's and
    ``test_from`` says which.
    """
    attrs = {(s, t.number): t.user_attrs for s, _, t in _trials(storage, (TrialState.COMPLETE, TrialState.PRUNED))}
    backfilled = FullTests(work) if work is not None else None
    rows = []
    for row in trial_rows(storage):
        if row.get("kind") != KIND:
            continue
        ua = attrs.get((row["study"], row["trial"]), {})
        if not is_current(ua.get("unit")):  # a run of a recipe revised since (redone under its new key)
            continue
        tr = ua.get("transferability") or {}
        row.update({"unit": ua.get("unit"), "member": ua.get("member"), "tier": ua.get("tier"),
                    "family": ua.get("family"), "source_name": ua.get("source_name"), "src_logme": tr.get("logme"),
                    "src_leep": tr.get("leep"), "src_gap": tr.get("gap"), "cpu_seconds": ua.get("cpu_seconds")})
        if ua.get("source_name"):
            row["source"] = f"sources/{ua['source_name']}"
        full = ua.get("test_full") or (backfilled.get(row["study"], row["trial"]) if backfilled else None)
        row["test_first_fold_accuracy"] = row.get("test_accuracy")
        if isinstance(full, dict):  # the test score is the recipe's, fit on every label
            row.update({f"test_{k}": v for k, v in full.items()})
            row["test_from"] = "full fit"
        else:
            row.update({k: None for k in row if k.startswith("test_") and k != "test_first_fold_accuracy"})
            row["test_from"] = "missing (python -m benchmarks.meta_dataset --backfill-test)"
        rows.append(row)
    return sorted(rows, key=lambda r: (str(r["task"]), int(r["seed"] or 0), str(r["member"])))


def failures(storage: BaseStorage) -> list[dict[str, Any]]:
    """Failed (not interrupted) runs: task key, member, seed, reason."""
    out = []
    for _, key, t in _trials(storage, (TrialState.FAIL,)):
        if t.user_attrs.get("interrupted") or not is_current(t.user_attrs.get("unit")):
            continue
        recipe = t.user_attrs.get("recipe") or {}
        out.append({"task": key, "member": t.user_attrs.get("member"), "seed": recipe.get("seed"),
                    "reason": t.user_attrs.get("fail_reason", "")})
    return out


def costs(storage: BaseStorage) -> dict[tuple[str, bool, int], float]:
    """Mean CPU seconds of finished runs per (strategy, image task, shots) — the estimate's table."""
    acc: dict[tuple[str, bool, int], list[float]] = defaultdict(list)
    for rec in list_records(storage, KIND, counts=False):
        image = bool(rec.meta_features.get("is_image", 1.0))
        study = optuna.load_study(study_name=rec.study_name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            recipe, cpu = t.user_attrs.get("recipe") or {}, t.user_attrs.get("cpu_seconds")
            if isinstance(cpu, (int, float)) and recipe.get("strategy"):
                acc[(recipe["strategy"], image, int(recipe.get("shots") or 0))].append(float(cpu))
    return {k: statistics.fmean(v) for k, v in acc.items()}


def estimate(units: Iterable[tuple[str, bool, int]], table_: dict[tuple[str, bool, int], float]) -> float:
    """CPU seconds of ``units`` ((strategy, image task, shots) each) by a table of measured means.

    A unit takes the mean measured for its strategy and modality at the nearest measured shot level
    (labelled and unlabelled levels apart), else :data:`MEASURED` (this file's table), else
    :data:`DEFAULT_COST`.
    """
    total = 0.0
    for strategy, image, shots in units:
        for table in (table_, MEASURED):
            near = [(abs(k[2] - shots), v) for k, v in table.items()
                    if k[0] == strategy and k[1] == image and (k[2] > 0) == (shots > 0)]
            if near:
                total += min(near)[1]
                break
        else:
            total += DEFAULT_COST
    return total


def _counts(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    shots = sorted({int(r["shots"]) for r in rows})
    groups: dict[Any, Counter[int]] = defaultdict(Counter)
    for r in rows:
        groups[r[key]][int(r["shots"])] += 1
    return [{key: g, **{f"{s} shots": c[s] for s in shots}, "rows": sum(c.values())}
            for g, c in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def _strategies(rows: list[dict[str, Any]], fails: list[dict[str, Any]]) -> list[dict[str, Any]]:
    failed = Counter(str(f["member"]).split("#")[0] for f in fails)
    out = []
    for s in sorted({str(r["strategy"]) for r in rows} | set(failed)):
        rs = [r for r in rows if r["strategy"] == s]
        secs = [float(r["seconds"]) for r in rs if r.get("seconds") is not None]
        acc = [float(r["test_accuracy"]) for r in rs if r.get("test_accuracy") is not None]
        out.append({"strategy": s, "rows": len(rs), "failed": failed.get(s, 0),
                    "members": len({r["member"] for r in rs}),
                    "mean s": f"{statistics.fmean(secs):.1f}" if secs else "",
                    "mean test acc": f"{statistics.fmean(acc):.3f}" if acc else ""})
    return out


def write_outputs(out: Path, rows: list[dict[str, Any]], fails: list[dict[str, Any]], header: str,
                  sections: list[str]) -> None:
    """``meta_dataset.csv`` (the rows, :func:`warmstart.knowledge.trials.columns` order) and ``README.md``."""
    from warmstart._atomic import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    cols = columns(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: "" if r.get(c) is None else r[c] for c in cols} for r in rows)
    write_text_atomic(out / "meta_dataset.csv", buf.getvalue())
    fail_rows = Counter((f["member"], f["reason"]) for f in fails)
    parts = [header, *sections,
             "## Rows per family and shots\n\n" + markdown_table(_counts(rows, "family")) if rows else "",
             "## Rows per strategy and shots\n\n" + markdown_table(_counts(rows, "strategy")) if rows else "",
             "## Per strategy\n\n" + markdown_table(_strategies(rows, fails)) if rows or fails else "",
             "## Failed runs\n\n" + markdown_table([{"member": m, "runs": n, "reason": r}
                                                    for (m, r), n in fail_rows.most_common()])
             if fails else "## Failed runs\n\nnone\n"]
    write_text_atomic(out / "README.md", "\n".join(p for p in parts if p))


def sanity_checks(rows: list[dict[str, Any]], storage: Any, quick: bool, complete: bool = True) -> Checks:
    """Conditions any build must meet: one trial per unit, every row scored, test accuracy a probability."""
    checks = Checks()
    dup = 0
    for rec in list_records(storage, KIND, counts=False):
        study = optuna.load_study(study_name=rec.study_name, storage=storage)
        units = [t.user_attrs.get("unit") for t in study.get_trials(deepcopy=False, states=DONE_STATES)
                 if not t.user_attrs.get("interrupted")]
        dup += len(units) - len(set(units))
    checks.add("no unit recorded twice", dup == 0, f"{dup} duplicate(s)")
    unscored = [r for r in rows if r["state"] == TrialState.COMPLETE.name and r["score"] is None]
    checks.add("every completed row has a validation score", not unscored, f"{len(unscored)} without")
    acc = [r.get("test_accuracy") for r in rows]
    checks.add("every row has a test accuracy in [0, 1]", all(a is not None and 0.0 <= a <= 1.0 for a in acc),
               f"{len(acc)} rows")
    first_fold = sum(1 for r in rows if r.get("test_from") != "full fit")
    checks.add("every test score is the recipe refit on every label", first_fold == 0,
               f"{first_fold} rows without one (python -m benchmarks.meta_dataset --backfill-test)")
    if quick and complete and len({r["task"] for r in rows}) == 2:
        checks.add("quick: 2 tasks x 3 recipes", len(rows) == 6, f"{len(rows)} rows")
    return checks


def header(args: argparse.Namespace, argv: list[str]) -> str:
    """The README's head: what the table is, provenance, portfolio and per-run budgets."""
    from benchmarks._meta_portfolio import (
        BUDGET,
        QUICK_BUDGET,
        REVISION,
        TABULAR_REVISION,
        UNLABELLED,
        labelled_strategies,
    )

    cmd = "python -m benchmarks.meta_dataset " + " ".join(argv)
    return "\n".join([
        "# Meta-dataset: the recipe portfolio over a family of tasks", "",
        "Built by `benchmarks/meta_dataset.py` (see its docstring and `benchmarks/_meta_*.py`). One row per run:",
        "the recipe, its validation score as `auto`'s search scores it (`validation`: kfold / loo on the",
        "support set, label-free information maximization without labels), per-epoch curve, seconds, the",
        "task's meta-features (`mf_*`, of the seed-0 cut), the source's LogME / LEEP on the support set and",
        "domain gap on the pool (`src_*`), test metrics (`test_*`, for evaluation only) of the recipe refit on every",
        "label (`test_from`; `test_first_fold_accuracy` is the first validation fold's model, trained on part of",
        "the labels, which is what the rows held before 2026-11-30: `benchmarks/_meta_fulltest.py`).", "",
        provenance(cmd, args.seeds, notes="rows accumulate over invocations (resumable); the last invocation "
                                          "is the command above"), "",
        f"- labelled strategies: {', '.join(labelled_strategies())}; unlabelled: {', '.join(UNLABELLED)}; "
        "NAS candidates (nas_candidate, cut / frozen stages around the source)",
        "- per-run budgets (recipe params): "
        + ", ".join(sorted({str(b) for b in (QUICK_BUDGET if args.quick else BUDGET).values()})),
        f"- sampled settings per strategy: {args.sampled}; shots {list(args.shots)}",
        "- targets and sources (`benchmarks/_meta_tasks.py`): the digits family (digits, its 9 shifts, a 2- and",
        "  a 5-way subset) from the smallcnn pretrained on mnist5k; the mnist5k-b family from mnist5k-a; mnist5k",
        "  and a 2-way subset from digits; the tabular -b halves from an MLP pretrained on their -a half",
        "- `curve` is empty for strategies that log no per-epoch validation accuracy (linear_probe, the",
        "  domain-adaptation loop, fixmatch) and without labels; `mf_*` describe the labelled support set",
        *(f"- {name}: revision {rev} ({why}); the earlier revision's runs are left out of the table and redone"
          for name, (rev, why) in sorted(REVISION.items())),
        f"- every run from a tabular source: revision {TABULAR_REVISION[0]} ({TABULAR_REVISION[1]}); the earlier "
        "revision's runs are left out of the table and redone", "",
    ])
