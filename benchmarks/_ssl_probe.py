"""Self-supervised linear probes on ``digits`` (5 labels per class), and the ablation behind the defaults.

:func:`run_ssl_probes` pretrains, on mnist5k train + digits train images (labels never
read; digits' test split never used), SimCLR at its library defaults, BYOL at its library
defaults and SimCLR at the settings it had before (smallcnn 16/32/64, 20 epochs, batch
256, τ 0.5, a 64-64 projection head, the ``strong`` augmentation, no feature
standardization), plus supervised pretraining on mnist5k at the new SSL backbone width;
then fits the real ``linear_probe`` strategy (its defaults) on ``digits.few_shot(5, seed)``
for each seed and scores it on digits' test split. Rows have the format of
``benchmarks.fewshot_episodes.run_probes``.

:func:`run_ssl_ablation` changes one factor of SimCLR at a time (augmentation,
temperature, projection head, batch size, epochs, backbone width, feature
standardization) and BYOL against it, at a shorter budget, and scores each on a held-out
split of digits train (30% of each class, plus digits' validation split): neither the
pretraining nor the probe's support set sees those images, and digits' test split is not
used at all. This is the table the defaults were chosen from.

Usage (the few-shot episodes benchmark calls these; alone, for a look):
    python -m benchmarks._ssl_probe --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks._report import markdown_table, mean_ci
from warmstart.engine import TrainConfig, configure_threads
from warmstart.engine.augment import PRESETS
from warmstart.pretraining import pretrain_supervised
from warmstart.pretraining.byol import DEFAULT_CONFIG as BYOL_CONFIG
from warmstart.pretraining.byol import pretrain_byol
from warmstart.pretraining.simclr import DEFAULT_CONFIG as SIMCLR_CONFIG
from warmstart.pretraining.simclr import pretrain_simclr
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task

SEED = 0
NEW_WIDTHS = (32, 64, 128)
#: SimCLR as it was before the ablation (fewshot_episodes' run_probes)
OLD_SIMCLR: dict[str, Any] = {"temperature": 0.5, "proj_dim": 64, "proj_hidden": None, "proj_layers": 2,
                              "augment": "strong", "standardize": False}
OLD_WIDTHS = (16, 32, 64)
OLD_EPOCHS = 20


def ssl_budget(quick: bool) -> dict[str, Any]:
    """Every budget this module reads; a caller's budget dict overrides keys it shares."""
    if quick:
        return {"ssl_epochs": 1, "ssl_widths": (8, 16, 16), "simclr_epochs": 1, "widths": (8, 16, 16),
                "simclr_images": 150, "sup_epochs": 1, "sup_images": 200, "probe_seeds": [0],
                "ablation_epochs": 1, "ablation_widths": (8, 16, 16), "ablation_images": 120,
                "ablation_seeds": [0]}
    return {"ssl_epochs": None, "ssl_widths": NEW_WIDTHS, "simclr_epochs": OLD_EPOCHS, "widths": OLD_WIDTHS,
            "simclr_images": None, "sup_epochs": 10, "sup_images": None, "probe_seeds": [0, 1, 2],
            "ablation_epochs": 10, "ablation_widths": OLD_WIDTHS, "ablation_images": None,
            "ablation_seeds": [0, 1, 2]}


def _limit(task: Task, n: int | None, splits: bool = False) -> Task:
    """At most ``n`` train images (and, with ``splits``, validation and test images); None: all."""
    if n is None:
        return task
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(task.y_train), generator=g)[:n]
    task = task.replace(x_train=task.x_train[idx], y_train=task.y_train[idx])
    if splits and task.x_val is not None and task.y_val is not None:
        task = task.replace(x_val=task.x_val[:n], y_val=task.y_val[:n])
    if splits:
        task = task.replace(x_test=task.x_test[:n], y_test=task.y_test[:n])
    return task


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def probe(path: Path, target: Task, seeds: list[int]) -> list[float]:
    """Test accuracy of the default ``linear_probe`` from the checkpoint at ``path``, 5 labels per class, per seed."""
    accs = []
    for seed in seeds:
        task = target.few_shot(5, seed=seed)
        strat = get_strategy("linear_probe", seed=seed, progress=False)
        strat.fit(task, Source(path=path))
        accs.append(float(strat.score(task.x_test, task.y_test)))
    return accs


def _row(label: str, accs: list[float]) -> dict[str, Any]:
    mean, half = mean_ci(accs)
    return {"source": label, "accuracy": mean, "ci95": half, "seeds": len(accs),
            "per_seed": " ".join(f"{a:.4f}" for a in accs)}


def _config(epochs: int | None, default: TrainConfig, batch_size: int | None = None) -> TrainConfig:
    return TrainConfig(epochs=epochs or default.epochs, batch_size=batch_size or default.batch_size, lr=default.lr,
                       weight_decay=default.weight_decay, seed=SEED, progress=False)


def run_ssl_probes(budget: dict[str, Any], work: Path, mnist: Task, digits: Task,
                   quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Linear probes on digits (5 labels per class) from supervised, SimCLR (new and old) and BYOL checkpoints.

    Args:
        budget: Overrides of :func:`ssl_budget` (e.g. the few-shot benchmark's budget dict).
        work: A scratch folder for the checkpoints.
        mnist: The ``mnist5k`` task.
        digits: The ``digits`` task (its test split is only scored).
        quick: Tiny budgets (seconds).

    Returns:
        Rows (``source``, ``accuracy``, ``ci95``, ``seeds``, ``per_seed``) and facts per
        pretraining (``seconds``, ``images`` (self-supervised), ``final_loss`` (self-supervised),
        ``test_accuracy`` (supervised, on mnist5k), ``widths``).
    """
    b = {**ssl_budget(quick), **budget}
    n_img = b["simclr_images"]
    pool = [_limit(mnist, n_img), _limit(digits, n_img)]
    facts: dict[str, Any] = {}
    runs: list[tuple[str, Path]] = []

    def timed(label: str, path: Path, fn: Any) -> None:
        t0 = time.perf_counter()
        ck = fn()
        extra, metrics = ck.meta.get("extra", {}), ck.meta.get("metrics", {})
        facts[label] = {"seconds": time.perf_counter() - t0, "images": extra.get("n_images"),
                        "final_loss": next(iter(metrics.get("train", {}).values()), None),
                        "test_accuracy": metrics.get("test", {}).get("accuracy"),
                        "widths": "/".join(str(w) for w in ck.meta["backbone"]["kwargs"].get("widths", []))}
        _log(f"{label}: {facts[label]}")
        runs.append((label, path))

    new_w = tuple(b["ssl_widths"])
    sup_cfg = TrainConfig(epochs=b["sup_epochs"], lr=3e-3, augment="light", seed=SEED, progress=False)
    timed(f"supervised mnist5k (widths {'/'.join(map(str, new_w))})", work / "sup_ssl_width",
          lambda: pretrain_supervised(_limit(mnist, b["sup_images"], quick), work / "sup_ssl_width", config=sup_cfg,
                                      widths=new_w))
    timed("SimCLR mnist5k + digits (new defaults)", work / "simclr_new",
          lambda: pretrain_simclr(pool, work / "simclr_new", config=_config(b["ssl_epochs"], SIMCLR_CONFIG),
                                  widths=new_w))
    timed("BYOL mnist5k + digits (defaults)", work / "byol",
          lambda: pretrain_byol(pool, work / "byol", config=_config(b["ssl_epochs"], BYOL_CONFIG), widths=new_w))
    old_cfg = TrainConfig(epochs=b["simclr_epochs"], batch_size=256, lr=3e-3, seed=SEED, progress=False)
    timed("SimCLR mnist5k + digits (old settings)", work / "simclr_old",
          lambda: pretrain_simclr(pool, work / "simclr_old", config=old_cfg, widths=tuple(b["widths"]),
                                  **OLD_SIMCLR))
    rows = []
    for label, path in runs:
        rows.append(_row(label, probe(path, digits, list(b["probe_seeds"]))))
        _log(f"linear probe from {label}: {rows[-1]['accuracy']:.4f} ± {rows[-1]['ci95']:.4f}")
    return rows, facts


def held_out_digits(digits: Task, fraction: float = 0.3, seed: int = 123) -> Task:
    """digits for tuning: ``fraction`` of each class of its train split held out as the "test" split.

    The held-out images and the validation split form the returned task's test split; the
    rest of train is its train split; digits' own test split is dropped.
    """
    g = torch.Generator().manual_seed(seed)
    held = []
    for c in range(digits.n_classes):
        idx = torch.nonzero(digits.y_train == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        held.append(idx[: int(fraction * len(idx))])
    out = torch.cat(held)
    keep = torch.ones(len(digits.y_train), dtype=torch.bool)
    keep[out] = False
    x_test, y_test = digits.x_train[out], digits.y_train[out]
    if digits.x_val is not None and digits.y_val is not None:
        x_test, y_test = torch.cat([x_test, digits.x_val]), torch.cat([y_test, digits.y_val])
    return digits.replace(name="digits-heldout", x_train=digits.x_train[keep], y_train=digits.y_train[keep],
                          x_val=None, y_val=None, x_test=x_test, y_test=y_test,
                          provenance={**digits.provenance, "held_out": {"fraction": fraction, "seed": seed}})


def ablation_settings(quick: bool) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(factor, value, method, options) rows; options override the new defaults (``widths``, ``epochs``,
    ``batch_size`` and pretrain keyword arguments). The first row is the reference."""
    geo_only = dataclasses.replace(PRESETS["ssl"], brightness=0.0, contrast=0.0)
    rows: list[tuple[str, str, str, dict[str, Any]]] = [
        ("reference", "new defaults", "simclr", {}),
        ("feature standardization", "off", "simclr", {"standardize": False}),
        ("augmentation", "strong (noise 0.1)", "simclr", {"augment": "strong"}),
        ("augmentation", "geometric only", "simclr", {"augment": geo_only}),
        ("temperature", "0.5", "simclr", {"temperature": 0.5}),
        ("projection head", "64-64, 2 layers", "simclr", {"proj_hidden": 64, "proj_dim": 64, "proj_layers": 2}),
        ("projection head", "3 layers", "simclr", {"proj_layers": 3}),
        ("batch size", "128", "simclr", {"batch_size": 128}),
        ("epochs", "x2", "simclr", {"epochs_factor": 2}),
        ("backbone widths", "32/64/128", "simclr", {"widths": NEW_WIDTHS}),
        ("method", "BYOL", "byol", {}),
    ]
    return rows[:3] if quick else rows


def run_ssl_ablation(budget: dict[str, Any], work: Path, mnist: Task, digits: Task,
                     quick: bool) -> list[dict[str, Any]]:
    """One factor at a time away from the new defaults; probe accuracy on a held-out split of digits train.

    Every setting pretrains a smallcnn of ``ablation_widths`` (16/32/64, cheaper than the
    default 32/64/128, which has its own row) on mnist5k train + the kept part of digits
    train for ``ablation_epochs`` epochs (the reference row: the new defaults at that budget),
    then fits the default ``linear_probe`` on 5 labels per class of the kept part
    (seeds ``ablation_seeds``) and scores it on :func:`held_out_digits`' test split.

    Returns:
        Rows: ``factor``, ``value``, ``accuracy`` (mean over seeds), ``ci95``, ``per_seed``,
        ``pretrain_s``.
    """
    b = {**ssl_budget(quick), **budget}
    tune = held_out_digits(digits)
    pool = [_limit(mnist, b["ablation_images"]), _limit(tune, b["ablation_images"])]
    rows = []
    for i, (factor, value, method, opts) in enumerate(ablation_settings(quick)):
        opts = dict(opts)
        widths = tuple(opts.pop("widths", b["ablation_widths"]))
        default = SIMCLR_CONFIG if method == "simclr" else BYOL_CONFIG
        epochs = b["ablation_epochs"] * int(opts.pop("epochs_factor", 1))
        cfg = _config(epochs, default, opts.pop("batch_size", None))
        out = work / f"ablation_{i}"
        pretrain = pretrain_simclr if method == "simclr" else pretrain_byol
        t0 = time.perf_counter()
        pretrain(pool, out, config=cfg, widths=widths, **opts)  # type: ignore[operator]
        seconds = time.perf_counter() - t0
        accs = probe(out, tune, list(b["ablation_seeds"]))
        mean, half = mean_ci(accs)
        rows.append({"factor": factor, "value": value, "accuracy": mean, "ci95": half,
                     "per_seed": " ".join(f"{a:.4f}" for a in accs), "pretrain_s": seconds})
        _log(f"ablation {factor}={value}: {mean:.4f} ({seconds:.0f} s)")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print both tables (no files written): a look at the module on its own."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets (seconds)")
    ap.add_argument("--no-ablation", action="store_true", help="only the probes")
    args = ap.parse_args(argv)
    configure_threads()
    mnist, digits = get_task("mnist5k"), get_task("digits")
    with tempfile.TemporaryDirectory() as tmp:
        rows, facts = run_ssl_probes({}, Path(tmp), mnist, digits, args.quick)
        print(markdown_table(rows, ["source", "accuracy", "ci95", "seeds", "per_seed"]))
        print(markdown_table([{"model": k, **v} for k, v in facts.items()]))
        if not args.no_ablation:
            print(markdown_table(run_ssl_ablation({}, Path(tmp), mnist, digits, args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
