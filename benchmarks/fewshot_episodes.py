"""Few-shot episodes on ``digits`` after meta-learning on ``mnist5k``; SimCLR linear probes.

Part 1, episodes. Meta-train on ``mnist5k`` (all classes, or classes 0–4 only),
evaluate on 5-way 1-shot and 5-shot episodes of ``digits`` (15 queries per
class, drawn from all of digits' labelled images, which no method trains on):
"all classes" episodes draw from digits 0–9, "unseen classes" episodes from
digits 5–9 after meta-training on mnist5k 0–4. Methods: ``protonet``, ``maml``
first- and second-order (both starting from the supervised checkpoint of the
same source classes, so meta-training is what they add), and the non-episodic
baselines ``linear_probe`` and ``finetune`` on each support set from that
supervised checkpoint. Accuracy is the mean over episodes with a 95% normal
confidence interval. Every method sees the same episodes (episode i depends only
on the seed and i); to fit the time budget on 2 shared CPU cores, protonet is
evaluated on ``--episodes`` (600) and the slower per-episode methods (maml,
linear probe, finetune) on the first ``--slow-episodes`` (100) of them.

Part 2, linear probe on ``digits`` with 5 labels per class (the few-shot
protocol, one support set per seed) from four head-less or supervised checkpoints:
random init, supervised ``mnist5k``, SimCLR on ``mnist5k`` (train split, labels
unused), SimCLR on ``mnist5k`` + ``digits`` train images (labels unused; the
test split is never used).

All models are smallcnn with widths (16, 32, 64); hyperparameters are the
strategies' defaults or fixed in advance (nothing chosen on test data).

Usage:
    python -m benchmarks.fewshot_episodes            # full run → benchmarks/results/fewshot_episodes/
    python -m benchmarks.fewshot_episodes --quick    # seconds; checks that it works
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks._report import Checks, markdown_table, mean_ci, output_folder, provenance, write_csv
from warmstart._atomic import write_text_atomic
from warmstart.backbones.checkpoint import save_checkpoint
from warmstart.engine import TrainConfig, configure_threads
from warmstart.pretraining import pretrain_supervised
from warmstart.pretraining.simclr import encoder_for, pretrain_simclr
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task
from warmstart.tasks.episodes import EpisodeSampler

WIDTHS = (16, 32, 64)
SEED = 0


def budgets(quick: bool) -> dict[str, Any]:
    """Every budget of the run (written next to the results)."""
    if quick:
        return {"episodes": 4, "slow_episodes": 2, "queries": 5, "sup_epochs": 1, "sup_images": 200,
                "protonet_episodes": 3, "maml_iterations": 1, "maml_batch": 2, "simclr_epochs": 1,
                "simclr_images": 150, "probe_seeds": [0], "finetune_steps": 5, "widths": (8, 16, 16)}
    return {"episodes": 600, "slow_episodes": 100, "queries": 15, "sup_epochs": 10, "sup_images": None,
            "protonet_episodes": 200, "maml_iterations": 30, "maml_batch": 4, "simclr_epochs": 20,
            "simclr_images": None, "probe_seeds": [0, 1, 2], "finetune_steps": 20, "widths": WIDTHS}


def _limit(task: Task, n: int | None) -> Task:
    if n is None:
        return task
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(task.y_train), generator=g)[:n]
    return task.replace(x_train=task.x_train[idx], y_train=task.y_train[idx])


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def method_specs(b: dict[str, Any], half: bool) -> list[tuple[str, str, dict[str, Any], bool]]:
    """(label, strategy, params, slow) for the episode table."""
    meta = {"source_classes": "0,1,2,3,4"} if half else {}
    maml = {**meta, "meta_iterations": b["maml_iterations"], "meta_batch": b["maml_batch"], "meta_ways": 5,
            "meta_shots": 5, "meta_queries": 10 if not b["quick"] else 3}
    return [
        ("protonet", "protonet", {**meta, "meta_episodes": b["protonet_episodes"],
                                  "meta_queries": 10 if not b["quick"] else 3}, False),
        ("maml (second order)", "maml", {**maml, "first_order": False}, True),
        ("maml (first order)", "maml", {**maml, "first_order": True}, True),
        ("linear probe (supervised ckpt)", "linear_probe", {}, True),
        ("finetune (supervised ckpt)", "finetune", {"epochs": 1, "min_steps": b["finetune_steps"]}, True),
    ]


def run_episodes(b: dict[str, Any], work: Path, mnist: Task, digits: Task,
                 sup: dict[str, Path], partial: Path | None = None) -> list[dict[str, Any]]:
    """Part 1: accuracy of each method on digits episodes, per setting and shots."""
    rows = []
    for setting, half in (("all classes", False), ("unseen classes", True)):
        src = Source(path=sup["half" if half else "all"], task_name="mnist5k")
        classes = ["5", "6", "7", "8", "9"] if half else None
        for label, name, params, slow in method_specs(b, half):
            strat = get_strategy(name, seed=SEED, progress=False, **params)
            meta_counted = False
            for shots in (1, 5):
                sampler = EpisodeSampler.from_task(digits, 5, shots, b["queries"], split="all", classes=classes,
                                                   seed=SEED)
                n = b["slow_episodes"] if slow else b["episodes"]
                accs, t0, meta_s = [], time.perf_counter(), 0.0
                for i in range(n):
                    task = sampler.episode(i).as_task("digits-episode", "image", digits.input_shape)
                    strat.fit(task, src)
                    if i == 0 and "meta_trained" in strat.info_ and not meta_counted:
                        meta_counted = True  # meta-training happens once per strategy, in its first fit
                        meta_s = float(strat.info_["meta_trained"].get("seconds", 0.0)) \
                            if not strat.info_["meta_trained"].get("cached") else 0.0
                    accs.append(strat.score(task.x_test, task.y_test))
                mean, half_ci = mean_ci(accs)
                sec = time.perf_counter() - t0 - meta_s
                rows.append({"setting": setting, "shots": shots, "method": label, "accuracy": mean,
                             "ci95": half_ci, "episodes": n, "adapt_s_per_episode": sec / n,
                             "meta_train_s": meta_s})
                _log(f"{setting} {shots}-shot {label}: {mean:.4f} ± {half_ci:.4f} ({n} episodes)")
                if partial is not None:
                    write_csv(partial, rows)
    return rows


def run_probes(b: dict[str, Any], work: Path, mnist: Task, digits: Task,
               sup_all: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Part 2: linear probe on digits (5 per class) from four checkpoints."""
    cfg = TrainConfig(epochs=b["simclr_epochs"], batch_size=256, lr=3e-3, seed=SEED, progress=False)
    rand = work / "random"
    torch.manual_seed(SEED)
    save_checkpoint(encoder_for(mnist.x_train, "smallcnn", widths=b["widths"]), rand, classes=None,
                    source_task=None, extra={"method": "random init"})
    facts: dict[str, Any] = {}
    t0 = time.perf_counter()
    ssl1 = pretrain_simclr(_limit(mnist, b["simclr_images"]), work / "simclr_mnist", config=cfg,
                           widths=b["widths"])
    facts["simclr mnist5k"] = {"seconds": time.perf_counter() - t0, "images": ssl1.meta["extra"]["n_images"],
                               "final_nt_xent": ssl1.meta["metrics"]["train"]["nt_xent"]}
    _log(f"simclr mnist5k: {facts['simclr mnist5k']}")
    t0 = time.perf_counter()
    ssl2 = pretrain_simclr([_limit(mnist, b["simclr_images"]), _limit(digits, b["simclr_images"])],
                           work / "simclr_pool", config=cfg, widths=b["widths"])
    facts["simclr mnist5k+digits"] = {"seconds": time.perf_counter() - t0,
                                      "images": ssl2.meta["extra"]["n_images"],
                                      "final_nt_xent": ssl2.meta["metrics"]["train"]["nt_xent"]}
    _log(f"simclr pool: {facts['simclr mnist5k+digits']}")
    rows = []
    for label, path in (("random init", rand), ("supervised mnist5k", sup_all),
                        ("SimCLR mnist5k", work / "simclr_mnist"),
                        ("SimCLR mnist5k + digits pool", work / "simclr_pool")):
        accs = []
        for seed in b["probe_seeds"]:
            task = digits.few_shot(5, seed=seed)
            strat = get_strategy("linear_probe", seed=seed, progress=False)
            strat.fit(task, Source(path=path))
            accs.append(strat.score(task.x_test, task.y_test))
        mean, half_ci = mean_ci(accs)
        rows.append({"source": label, "accuracy": mean, "ci95": half_ci, "seeds": len(accs),
                     "per_seed": " ".join(f"{a:.4f}" for a in accs)})
        _log(f"linear probe from {label}: {mean:.4f} ± {half_ci:.4f}")
    return rows, facts


def plot(rows: list[dict[str, Any]], probes: list[dict[str, Any]], path: Path) -> None:
    """Bar charts with 95% intervals: episodes per setting/shots, then the linear probes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(s, k) for s in ("all classes", "unseen classes") for k in (1, 5)]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        vals = [next((r for r in rows if r["method"] == m and (r["setting"], r["shots"]) == g), None) for g in groups]
        axes[0].bar([i + j * width for i in range(len(groups))], [v["accuracy"] if v else 0 for v in vals], width,
                    yerr=[v["ci95"] if v else 0 for v in vals], label=m, capsize=2)
    axes[0].set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    axes[0].set_xticklabels([f"{s}\n5-way {k}-shot" for s, k in groups])
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("accuracy (digits episodes)")
    axes[0].legend(fontsize=7, loc="lower right")
    axes[1].bar(range(len(probes)), [p["accuracy"] for p in probes], yerr=[p["ci95"] for p in probes], capsize=3)
    axes[1].set_xticks(range(len(probes)))
    axes[1].set_xticklabels([p["source"].replace(" + ", "\n+ ") for p in probes], fontsize=7, rotation=20)
    axes[1].set_ylim(0, 1)
    axes[1].set_title("linear probe, digits 5/class", fontsize=9)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write README.md, episodes.csv, linear_probe.csv and fewshot_episodes.png."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets (seconds); checks that it works")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/fewshot_episodes/, with --quick its quick/)")
    ap.add_argument("--episodes", type=int, help="episodes per cell (default 600)")
    ap.add_argument("--slow-episodes", type=int, help="episodes for maml and finetune (default 100)")
    args = ap.parse_args(argv)
    try:
        args.out = output_folder("fewshot_episodes", args.quick, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    b = {**budgets(args.quick), "quick": args.quick}
    if args.episodes:
        b["episodes"] = args.episodes
    if args.slow_episodes:
        b["slow_episodes"] = args.slow_episodes
    threads = configure_threads()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        saved_cache = os.environ.get("WARMSTART_CACHE")
        os.environ["WARMSTART_CACHE"] = str(work / "cache")  # fresh meta-training, honest timings
        try:
            mnist, digits = get_task("mnist5k"), get_task("digits")
            sup: dict[str, Path] = {}
            sup_facts = {}
            for key, task in (("all", mnist), ("half", mnist.subset_classes([0, 1, 2, 3, 4]))):
                cfg = TrainConfig(epochs=b["sup_epochs"], lr=3e-3, augment="light", seed=SEED, progress=False)
                t0 = time.perf_counter()
                ck = pretrain_supervised(_limit(task, b["sup_images"]), work / f"sup_{key}", config=cfg,
                                         widths=b["widths"])
                sup[key] = work / f"sup_{key}"
                sup_facts[key] = {"seconds": time.perf_counter() - t0,
                                  "test_accuracy": ck.meta["metrics"]["test"]["accuracy"]}
                _log(f"supervised {key}: {sup_facts[key]}")
            args.out.mkdir(parents=True, exist_ok=True)
            rows = run_episodes(b, work, mnist, digits, sup, work / "episodes.partial.csv")
            probes, ssl_facts = run_probes(b, work, mnist, digits, sup["all"])
        finally:
            if saved_cache is None:
                os.environ.pop("WARMSTART_CACHE", None)
            else:
                os.environ["WARMSTART_CACHE"] = saved_cache
    total = time.perf_counter() - t_start
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "episodes.csv", rows)
    write_csv(out / "linear_probe.csv", probes)
    plot(rows, probes, out / "fewshot_episodes.png")
    best = {(s, k): max((r for r in rows if r["setting"] == s and r["shots"] == k), key=lambda r: r["accuracy"])
            for s in ("all classes", "unseen classes") for k in (1, 5)}
    sup_probe = next(p["accuracy"] for p in probes if p["source"] == "supervised mnist5k")
    ssl_probe = max(p["accuracy"] for p in probes if p["source"].startswith("SimCLR"))
    checks = [
        ("5-way 5-shot, all classes, best method >= 0.95", best[("all classes", 5)]["accuracy"] >= 0.95,
         f"{best[('all classes', 5)]['method']} {best[('all classes', 5)]['accuracy']:.4f}"),
        ("5-way 5-shot, unseen classes, best method >= 0.90", best[("unseen classes", 5)]["accuracy"] >= 0.90,
         f"{best[('unseen classes', 5)]['method']} {best[('unseen classes', 5)]['accuracy']:.4f}"),
        ("SimCLR linear probe within 5 points of supervised", ssl_probe >= sup_probe - 0.05,
         f"SimCLR {ssl_probe:.4f} vs supervised {sup_probe:.4f}"),
    ]
    sanity = sanity_checks(rows, probes)
    cmd = "python -m benchmarks.fewshot_episodes" + (" --quick" if args.quick else "")
    budget_txt = ", ".join(f"{k}={v}" for k, v in b.items() if k != "quick")
    readme = [
        "# Few-shot episodes (digits) after meta-learning on mnist5k; SimCLR linear probes", "",
        __doc__.split("\n\n", 1)[1].split("Usage:")[0].strip(), "",
        "## Targets", "",
        markdown_table([{"target": t, "met": "yes" if ok else "NO", "measured": m} for t, ok, m in checks]),
        "## Episodes: accuracy ± 95% CI (5-way, 15 queries per class)", "",
        markdown_table(rows, ["setting", "shots", "method", "accuracy", "ci95", "episodes",
                              "adapt_s_per_episode", "meta_train_s"]),
        "## Linear probe on digits, 5 labels per class (mean ± 95% CI over support-set seeds)", "",
        markdown_table(probes, ["source", "accuracy", "ci95", "seeds", "per_seed"]),
        "## Pretraining", "",
        markdown_table([{"model": f"supervised mnist5k ({k})", **v} for k, v in sup_facts.items()]
                       + [{"model": k, **v} for k, v in ssl_facts.items()],
                       ["model", "seconds", "test_accuracy", "images", "final_nt_xent"]),
        "![plot](fewshot_episodes.png)", "",
        sanity.markdown(),
        "## Provenance", "",
        provenance(cmd, [SEED], f"torch threads {threads}; budgets: {budget_txt}; total wall time {total:.0f} s. "
                   "protonet meta-trains 10-way (all classes) or 5-way (classes 0-4) 5-shot 10-query episodes "
                   "with light augmentation; maml meta-trains 5-way 5-shot 10-query episodes, 5 inner steps at "
                   "inner_lr 0.1, adapts with 10 steps; both meta-train once per setting and are evaluated on 1- "
                   "and 5-shot episodes. MAML batch norm uses batch statistics (transductive)."),
        "",
    ]
    write_text_atomic(out / "README.md", "\n".join(readme))
    for t, ok, m in checks:
        print(f"{'met' if ok else 'MISSED'}: {t} ({m})")
    print(f"total {total:.0f} s; results in {out}")
    return sanity.exit_code()


def sanity_checks(rows: list[dict[str, Any]], probes: list[dict[str, Any]]) -> Checks:
    """What must hold at any budget (the targets above are goals, reported whether met or not).

    Every method ran in every (setting, shots) cell; every accuracy is in [0, 1]; protonet's 5-way
    5-shot accuracy is at least 0.1 above chance (0.2) in both settings; every linear probe on
    digits (10 classes) is at least 0.1 above chance.
    """
    checks = Checks()
    cells = {(r["setting"], r["shots"]) for r in rows}
    methods = {r["method"] for r in rows}
    counts = sorted({sum(1 for r in rows if (r["setting"], r["shots"]) == c) for c in cells})
    checks.add("every method in every (setting, shots) cell", counts == [len(methods)] and len(cells) == 4,
               f"{len(cells)} cells, methods per cell {counts} of {len(methods)}")
    accs = [float(r["accuracy"]) for r in [*rows, *probes]]
    checks.add("every accuracy in [0, 1]", all(0.0 <= a <= 1.0 for a in accs), f"{min(accs):.3f}..{max(accs):.3f}")
    for setting in ("all classes", "unseen classes"):
        acc = next((float(r["accuracy"]) for r in rows if r["setting"] == setting and int(r["shots"]) == 5
                    and r["method"] == "protonet"), float("nan"))
        checks.add(f"protonet 5-way 5-shot, {setting}: >= 0.3 (chance 0.2)", acc >= 0.3, f"{acc:.3f}")
    for p in probes:
        checks.add(f"linear probe from {p['source']}: >= 0.2 (chance 0.1)", float(p["accuracy"]) >= 0.2,
                   f"{float(p['accuracy']):.3f}")
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
