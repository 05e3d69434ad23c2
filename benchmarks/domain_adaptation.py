"""Benchmark: unsupervised domain adaptation with label-free checkpoint selection.

Pairs (source → target, no target label used for training or selection):
``mnist5k → digits``, ``digits → mnist5k`` and ``mnist5k-a → mnist5k-b-inverted``
(disjoint halves: no target image was seen unshifted). Methods side by side:
source_only, dann, cdan, mcc, self_training (mmd, coral, and ``dann+mcc``,
``cdan+mcc``, ``self_training+mcc`` — the strategy with MCC added at weight 1 — with
``--methods``), each from the same pretrained source checkpoint per pair (``--source``: by default the
model a user gets from ``--source-task`` alone, a smallcnn 32-64-128 pretrained 10 epochs), 3 seeds, at
the strategies' default recipe (3,000 steps of 32 source + 32 target images, SGD, the
source classifier kept, the source images augmented toward the target as the log-loss
divergence to the pool chooses — the choice is in runs.csv —, batch norm per domain, AdaBN,
the last epoch) unless
``--iterations``/``--epochs``/``--batch-size`` say otherwise. Reported: target test
accuracy of the checkpoint picked by the
label-free score ``--select-by`` (mean ± std), the accuracy each other score's
pick would have had, and beside them the oracle pick (best test accuracy among
the same candidate checkpoints, shown only for reference), time, and the seconds
per 1,000 training steps (evaluations excluded).

Usage:
    python -m benchmarks.domain_adaptation            # full run, writes benchmarks/results/domain_adaptation/
    python -m benchmarks.domain_adaptation --quick    # → benchmarks/results/domain_adaptation/quick/ (git-ignored)

Exit code 1 when a sanity check fails (see :func:`sanity_checks`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")

import torch

from benchmarks._da_report import SCORES, sanity_checks, write_outputs
from benchmarks._params import parse_params
from benchmarks._report import output_folder
from warmstart._paths import cache_dir
from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine.config import TrainConfig
from warmstart.engine.evaluate import predict_proba
from warmstart.pretraining.supervised import pretrain_supervised
from warmstart.recipe import Recipe, run_recipe
from warmstart.source import Source
from warmstart.strategies._adaptation import ADAPTATION_PARAMS
from warmstart.strategies._selection import SELECTORS, pick
from warmstart.tasks import Task, load_task

PAIRS = [("mnist5k", "digits"), ("digits", "mnist5k"), ("mnist5k-a", "mnist5k-b-inverted")]
METHODS = ["source_only", "dann", "cdan", "mcc", "self_training"]
#: methods that are a strategy with MCC added (Jin et al., ECCV 2020: MCC combines with other methods), weight 1
MCC_COMBOS = {f"{s}+mcc": (s, {"mcc": 1.0}) for s in ("dann", "cdan", "self_training")}
QUICK_METHODS = ["source_only", "dann", "mcc", "self_training"]
#: the ``--source narrow`` model: the smallcnn the tables before 2026-12-01 used
WIDTHS = (16, 32, 64)
#: ``--source`` choices: what a user gets from ``--source-task`` (:class:`Source`'s own pretraining), or narrow
SOURCE_KINDS = ("default", "narrow")


def _source_checkpoint(task: Task, kind: str, epochs: int | None, quick: bool) -> tuple[Path, str]:
    """Pretrain (once, cached) the source model on the source task, seed 0.

    Args:
        task: The source task.
        kind: ``default``: the model a user gets from ``--source-task`` alone (``Source``'s pretraining: the
            modality's default backbone, its default epochs unless ``epochs`` says otherwise); ``narrow``: a
            smallcnn of :data:`WIDTHS` (6 epochs unless ``epochs`` says otherwise).
        epochs: Pretraining epochs, or None for the kind's default.
        quick: A smoke run (a narrow source, cached apart).

    Returns:
        The checkpoint folder, and a description of the model for the provenance.
    """
    if kind == "default" and not quick:
        src = Source(task_name=task.name, _task=task,
                     pretrain_epochs=Source.pretrain_epochs if epochs is None else epochs)
        ckpt = src.checkpoint(progress=False)
        widths = ckpt.meta.get("backbone", {}).get("kwargs", {}).get("widths")
        return ckpt.path, (f"the default source (Source(task_name=...)): {ckpt.meta.get('backbone', {}).get('name')}"
                           f"{f' widths {tuple(widths)}' if widths else ''}, {src.pretrain_epochs} epochs")
    epochs = 6 if epochs is None else epochs
    tag = f"{task.name}-w{'-'.join(map(str, WIDTHS))}-e{epochs}{'-quick' if quick else ''}"
    out = cache_dir() / "benchmarks" / "domain_adaptation" / tag
    if not (out / "meta.json").exists():
        cfg = TrainConfig(epochs=epochs, lr=3e-3, augment="light", seed=0, progress=False)
        pretrain_supervised(task, out, config=cfg, widths=WIDTHS)
    return out, f"smallcnn widths {WIDTHS}, {epochs} epochs"


def _accuracy(model: torch.nn.Module, task: Task) -> float:
    return float((predict_proba(model, task.x_test).argmax(1) == task.y_test).float().mean())


def run_one(pair: tuple[str, str], method: str, seed: int, source: Source, target: Task,
            params: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Fit one method (a strategy, or a :data:`MCC_COMBOS` name) on one pair and seed; score every candidate
    epoch (test labels only to report)."""
    strategy, extra = method_recipe(method)
    res = run_recipe(target, Recipe(strategy, {"keep_candidates": True, **params, **extra}, seed=seed),
                     validation="none", source=source, device=device)
    strat = res.strategy
    cands = strat.candidates_  # type: ignore[attr-defined]
    accs = [_accuracy(strat.candidate_model(i), target) for i in range(len(cands))]  # type: ignore[attr-defined]
    row: dict[str, Any] = {"pair": f"{pair[0]} -> {pair[1]}", "method": method, "seed": seed,
                           "select_by": res.info["select_by"], "accuracy": res.test["accuracy"],
                           "selected_epoch": res.info["selected_epoch"]}
    for s in SCORES:
        row[f"acc_by_{s}"] = accs[pick(cands, s)]
    row["acc_last"] = accs[-1]
    row["oracle_accuracy"] = max(accs)
    row["oracle_epoch"] = cands[accs.index(max(accs))]["epoch"]
    row["seconds"] = res.seconds
    row["s_per_1k_steps"] = res.info.get("seconds_per_1000_steps")
    row["steps"] = res.info.get("steps")
    row["source_augment"] = res.info.get("source_augment", "none")
    return row


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as a dict (:func:`benchmarks._params.parse_params`).

    Raises:
        ValueError: an item that is not ``KEY=VALUE`` (the message names it and the option).
    """
    try:
        return parse_params(items)
    except ValueError as exc:
        raise ValueError(f"--set: {exc}; give KEY=VALUE, e.g. source_augment_divergence=logloss") from None


def method_recipe(method: str) -> tuple[str, dict[str, Any]]:
    """(strategy, extra params) of a method name: a strategy, or a :data:`MCC_COMBOS` name.

    Raises:
        ValueError: neither (the message lists both).
    """
    from warmstart.strategies import list_strategies

    if method in MCC_COMBOS:
        return MCC_COMBOS[method]
    if method in list_strategies():
        return method, {}
    raise ValueError(f"unknown method {method!r}; choose a strategy ({', '.join(list_strategies())}) "
                     f"or {', '.join(MCC_COMBOS)}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when its sanity checks hold, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (< 20 s)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/domain_adaptation/, with --quick its quick/)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=METHODS,
                    help=f"strategies, or a strategy with MCC added: {', '.join(MCC_COMBOS)}")
    ap.add_argument("--pairs", nargs="+", default=[f"{s}:{t}" for s, t in PAIRS], help="SOURCE:TARGET")
    ap.add_argument("--select-by", default=None, choices=list(SELECTORS),
                    help="label-free pick of the epoch (default: the strategies' default); with --merge, re-pick "
                         "the runs' epochs by this score (every candidate's score is in runs.csv)")
    ap.add_argument("--iterations", type=int, default=None,
                    help="training steps per run (default: the strategies' 3000)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="evaluated epochs = candidate checkpoints (default: the strategies' 10)")
    ap.add_argument("--iters-per-epoch", type=int, default=None, help="steps per epoch (overrides --iterations)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="source and target examples per step, each (default: the strategies' 32)")
    ap.add_argument("--source", choices=SOURCE_KINDS, default="default",
                    help="source model: 'default' = what a user gets from --source-task alone (smallcnn 32-64-128, "
                         "10 epochs); 'narrow' = smallcnn 16-32-64, 6 epochs (the tables before 2026-12-01)")
    ap.add_argument("--pretrain-epochs", type=int, default=None, help="source pretraining epochs "
                    "(default: the --source kind's)")
    ap.add_argument("--score-samples", type=int, default=500, help="examples per set for the selection scores")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="a strategy hyperparameter for every method (e.g. source_augment_divergence=logloss); "
                         "VALUE is read as JSON when it parses, else as text")
    ap.add_argument("--device", default="cpu", help="torch device of the runs (default cpu: this machine's times)")
    ap.add_argument("--merge", type=Path, nargs="+", help="combine the runs.csv of earlier partial runs "
                    "(e.g. one process per pair) into --out instead of running")
    args = ap.parse_args(argv)
    try:
        args.out = output_folder("domain_adaptation", args.quick and not args.merge, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    if args.merge:
        return _merge(args, argv)
    pairs = [tuple(p.split(":", 1)) for p in args.pairs]
    params: dict[str, Any] = {"select_by": args.select_by or ADAPTATION_PARAMS["select_by"].default,
                              "score_samples": args.score_samples}
    for key in ("iterations", "epochs", "iters_per_epoch", "batch_size"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    try:
        overrides = parse_sets(args.set)
    except ValueError as exc:
        ap.error(str(exc))
    params.update(overrides)
    if args.quick:
        pairs, methods, seeds = [("mnist5k-a", "mnist5k-b-inverted")], QUICK_METHODS, [0]
        params.update(epochs=2, iters_per_epoch=2, batch_size=8, score_samples=30)
        pretrain_epochs = 1
    else:
        methods, seeds, pretrain_epochs = args.methods, args.seeds, args.pretrain_epochs
    from warmstart.strategies import strategy_class

    for m in methods:
        try:
            strategy, _ = method_recipe(m)
        except ValueError as exc:
            ap.error(f"--methods: {exc}")
        unknown = sorted(set(overrides) - set(strategy_class(strategy).param_table()))
        if unknown:
            ap.error(f"--set: {strategy} has no hyperparameter {', '.join(unknown)}")
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for src_name, tgt_name in pairs:
        src_task = load_task(src_name)
        if args.quick:  # a 300-image source and a small target keep the smoke run short
            assert src_task.x_val is not None and src_task.y_val is not None
            src_task = src_task.replace(x_train=src_task.x_train[:300], y_train=src_task.y_train[:300],
                                        x_val=src_task.x_val[:60], y_val=src_task.y_val[:60])
        ckpt, described = _source_checkpoint(src_task, args.source, pretrain_epochs, args.quick)
        src_acc = load_checkpoint(ckpt).meta["metrics"]["test"]["accuracy"]
        notes.append(f"source {src_name}: {described}, source test accuracy {src_acc:.3f}")
        for seed in seeds:
            target = load_task(tgt_name).few_shot(0, seed=seed)
            if args.quick:
                assert target.x_unlabeled is not None and target.y_test is not None
                target = target.replace(x_unlabeled=target.x_unlabeled[:64], x_test=target.x_test[:60],
                                        y_test=target.y_test[:60])
            for method in methods:
                source = Source(path=ckpt, task_name=src_name, _task=src_task)
                row = run_one((src_name, tgt_name), method, seed, source, target, params, args.device)
                rows.append(row)
                print(f"{row['pair']:32s} {method:12s} seed {seed}  acc {row['accuracy']:.3f} "
                      f"(oracle {row['oracle_accuracy']:.3f})  {row['seconds']:.0f}s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    steps = sorted({int(r["steps"]) for r in rows if r.get("steps")})
    budget = (f"each run: {', '.join(map(str, steps))} steps ({_describe_budget(params)}), default strategy "
              f"hyperparameters otherwise (self_training: an unlabelled batch 3x the source one), "
              f"selection scores on {params['score_samples']} examples per set after every epoch; "
              f"wall time {wall / 60:.1f} min with WARMSTART_THREADS={os.environ.get('WARMSTART_THREADS', 'auto')}"
              f" on device {_device_name(args.device)}")
    if overrides:
        budget += f"; set for every method: {overrides}"
    command = "python -m benchmarks.domain_adaptation " + " ".join(argv if argv is not None else sys.argv[1:])
    checks = sanity_checks(rows, len(pairs) * len(methods) * len(seeds))
    write_outputs(args.out, rows, seeds, command, [budget, *notes], checks)
    return checks.exit_code()


def _device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(0)})"
    return device


def _describe_budget(params: dict[str, Any]) -> str:
    keys = ("iterations", "epochs", "iters_per_epoch", "batch_size")
    given = [f"{k}={params[k]}" for k in keys if k in params]
    return ", ".join(given) if given else "the strategies' defaults: 3000 steps, 10 evaluations, batch 32 + 32"


def _merge(args: argparse.Namespace, argv: list[str] | None) -> int:
    import csv

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for d in args.merge:
        for r in csv.DictReader(open(d / "runs.csv")):
            rows.append({k: _num(v) for k, v in r.items()})
        readme = (d / "README.md").read_text() if (d / "README.md").exists() else ""
        notes += [f"part {d.name}: " + line.split("notes: ", 1)[1] for line in readme.splitlines()
                  if line.startswith("- notes: ")]
    if args.select_by is not None:
        repicked = [r for r in rows if r["select_by"] != args.select_by]
        for r in repicked:  # the same candidates, picked by another score
            r["accuracy"] = r["acc_last" if args.select_by == "last" else f"acc_by_{args.select_by}"]
            r["select_by"], r["selected_epoch"] = args.select_by, ""
        if repicked:
            notes.append(f"{len(repicked)} run(s) re-picked at merge by {args.select_by} among the same candidate "
                         f"epochs (their 'by {args.select_by}' accuracy)")
    seeds = sorted({int(r["seed"]) for r in rows})
    command = "python -m benchmarks.domain_adaptation " + " ".join(argv if argv is not None else sys.argv[1:])
    checks = sanity_checks(rows, len(rows))
    write_outputs(args.out, rows, seeds, command, notes, checks)
    return checks.exit_code()


def _num(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


if __name__ == "__main__":
    raise SystemExit(main())
