"""Few-shot episodes on ``digits`` after meta-learning on ``mnist5k``; SimCLR linear probes.

Part 1, episodes. Meta-train on ``mnist5k`` (all classes, or classes 0–4 only),
evaluate on 5-way 1-shot and 5-shot episodes of ``digits`` (15 queries per
class, drawn from all of digits' labelled images, which no method trains on):
"all classes" episodes draw from digits 0–9, "unseen classes" episodes from
digits 5–9 after meta-training on mnist5k 0–4. Every method starts from the
supervised checkpoint of the same source classes (smallcnn, widths
``episode_widths``): ``protonet``, ``maml`` first- and second-order (meta-training
is what they add), and the non-episodic baselines ``linear_probe`` and
``finetune`` on each support set. Every method is evaluated on the same
``--episodes`` (600) episodes per cell (episode i depends only on the seed and
i). Accuracy is the mean over episodes with a 95% normal confidence interval.

protonet's settings per setting were chosen on held-out episodes (mnist5k's test
split and digits' train split, another episode seed; never these evaluation
episodes): see ``protonet_heldout.md`` beside this README and
``benchmarks/fewshot_protonet_heldout.py``. Unseen classes: rotation classes (the
five source digits × four quarter turns = 20 classes), a 10-epoch supervised
stage over those 20 classes, then 1,000 20-way episodes. All classes: 2,000
10-way episodes on the ten digits, no rotation classes and no supervised stage
(on held-out episodes both cost accuracy when the target classes were seen).
To fit 600 episodes of every method in the time budget, maml adapts with 5
steps (its meta-training inner loop; the previous runs used 10) and finetune
trains 10 steps per support set (previously 20), fixed before any run.

Part 2, linear probe on ``digits`` with 5 labels per class (the few-shot
protocol, one support set per seed; :mod:`benchmarks._ssl_probe`) from supervised
pretraining on ``mnist5k`` and self-supervised pretraining (SimCLR at its new
defaults, BYOL, and SimCLR at the previous run's settings for reference) on
``mnist5k`` + ``digits`` train images (labels unused; the test split is never used),
all at the same widths; and an ablation, one factor at a time, scored on a held-out
part of digits' train split (never the test split).

Part 1's models are smallcnn with widths ``episode_widths`` (32, 64, 128), part 2's
with the widths :mod:`benchmarks._ssl_probe` states; hyperparameters are the strategies' defaults, fixed
in advance, or chosen on held-out episodes (nothing chosen on test data).

Usage:
    python -m benchmarks.fewshot_episodes            # full run → benchmarks/results/fewshot_episodes/
    python -m benchmarks.fewshot_episodes --quick    # seconds; checks that it works
    python -m benchmarks.fewshot_episodes --part probes   # one part; the README shows both parts' latest files
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks._report import Checks, markdown_table, mean_ci, output_folder, provenance, write_csv
from benchmarks._ssl_probe import run_ssl_ablation, run_ssl_probes
from warmstart._atomic import write_text_atomic
from warmstart.engine import TrainConfig, configure_threads
from warmstart.pretraining import pretrain_supervised
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task
from warmstart.tasks.episodes import EpisodeSampler

WIDTHS = (16, 32, 64)  # part 2 (linear probes)
EPISODE_WIDTHS = (32, 64, 128)  # part 1 (episodes)
SEED = 0
EPISODE_NOTES = (
    "protonet (squared Euclidean prototypes, light augmentation of episodes) meta-trains "
    "protonet_episodes_all 10-way 5-shot 10-query episodes on all ten classes, or, on classes 0-4, first "
    "turns every source image by 90/180/270 degrees as 15 new classes, trains a linear classifier over the "
    "20 classes for protonet_pretrain_epochs epochs (head dropped), then meta-trains "
    "protonet_episodes_unseen 20-way episodes; maml meta-trains 5-way 5-shot 10-query episodes, 5 inner "
    "steps at inner_lr 0.1; both meta-train once per setting and are evaluated on 1- and 5-shot episodes. "
    "MAML batch norm uses batch statistics (transductive); protonet uses the running statistics (not "
    "transductive).")


def budgets(quick: bool) -> dict[str, Any]:
    """Every budget of the run (written next to the results)."""
    if quick:
        return {"episodes": 4, "queries": 5, "sup_epochs": 1, "sup_images": 200,
                "protonet_episodes_all": 3, "protonet_episodes_unseen": 3, "protonet_pretrain_epochs": 1,
                "maml_iterations": 1, "maml_batch": 2, "maml_adapt_steps": 2, "simclr_epochs": 1,
                "simclr_images": 150, "probe_seeds": [0], "finetune_steps": 5, "widths": (8, 16, 16),
                "episode_widths": (8, 16, 16)}
    return {"episodes": 600, "queries": 15, "sup_epochs": 10, "sup_images": None,
            "protonet_episodes_all": 2000, "protonet_episodes_unseen": 1000, "protonet_pretrain_epochs": 10,
            "maml_iterations": 30, "maml_batch": 4, "maml_adapt_steps": 5, "simclr_epochs": 20,
            "simclr_images": None, "probe_seeds": [0, 1, 2], "finetune_steps": 10, "widths": WIDTHS,
            "episode_widths": EPISODE_WIDTHS}


def _limit(task: Task, n: int | None) -> Task:
    if n is None:
        return task
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(task.y_train), generator=g)[:n]
    return task.replace(x_train=task.x_train[idx], y_train=task.y_train[idx])


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def method_specs(b: dict[str, Any], half: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, strategy, params) for the episode table.

    protonet's settings per setting come from held-out episodes (see the module docstring).
    """
    meta = {"source_classes": "0,1,2,3,4"} if half else {}
    queries = 10 if not b["quick"] else 3
    if half:  # few source classes: rotation classes and a supervised stage over them
        proto = {"rotation_classes": True, "pretrain_epochs": b["protonet_pretrain_epochs"], "meta_ways": 20}
    else:
        proto = {"rotation_classes": False, "pretrain_epochs": 0, "meta_ways": 10}
    maml = {**meta, "meta_iterations": b["maml_iterations"], "meta_batch": b["maml_batch"], "meta_ways": 5,
            "meta_shots": 5, "meta_queries": queries, "adapt_steps": b["maml_adapt_steps"]}
    return [
        ("protonet", "protonet", {**meta, **proto, "metric": "euclidean", "meta_queries": queries,
                                  "meta_episodes": b["protonet_episodes_unseen" if half else "protonet_episodes_all"]}),
        ("maml (second order)", "maml", {**maml, "first_order": False}),
        ("maml (first order)", "maml", {**maml, "first_order": True}),
        ("linear probe (supervised ckpt)", "linear_probe", {}),
        ("finetune (supervised ckpt)", "finetune", {"epochs": 1, "min_steps": b["finetune_steps"]}),
    ]


def pretrain_sources(b: dict[str, Any], work: Path, mnist: Task, widths: tuple[int, ...],
                     keys: tuple[str, ...] = ("all", "half")) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """Supervised checkpoints on mnist5k (``all`` classes, or ``half``: classes 0-4) at ``widths``."""
    sup: dict[str, Path] = {}
    facts: dict[str, dict[str, Any]] = {}
    tag = "-".join(str(w) for w in widths)
    for key in keys:
        task = mnist if key == "all" else mnist.subset_classes([0, 1, 2, 3, 4])
        cfg = TrainConfig(epochs=b["sup_epochs"], lr=3e-3, augment="light", seed=SEED, progress=False)
        t0 = time.perf_counter()
        folder = work / f"sup_{key}_{tag}"
        ck = pretrain_supervised(_limit(task, b["sup_images"]), folder, config=cfg, widths=widths)
        sup[key] = folder
        facts[f"supervised mnist5k ({key}, widths {tag})"] = {
            "seconds": time.perf_counter() - t0, "test_accuracy": ck.meta["metrics"]["test"]["accuracy"]}
        _log(f"supervised {key} {tag}: {facts[f'supervised mnist5k ({key}, widths {tag})']}")
    return sup, facts


def run_episodes(b: dict[str, Any], work: Path, mnist: Task, digits: Task,
                 sup: dict[str, Path], partial: Path | None = None) -> list[dict[str, Any]]:
    """Part 1: accuracy of each method on digits episodes, per setting and shots (``b["episodes"]`` each)."""
    rows = []
    n = b["episodes"]
    for setting, half in (("all classes", False), ("unseen classes", True)):
        src = Source(path=sup["half" if half else "all"], task_name="mnist5k")
        classes = ["5", "6", "7", "8", "9"] if half else None
        for label, name, params in method_specs(b, half):
            strat = get_strategy(name, seed=SEED, progress=False, **params)
            meta_counted = False
            for shots in (1, 5):
                sampler = EpisodeSampler.from_task(digits, 5, shots, b["queries"], split="all", classes=classes,
                                                   seed=SEED)
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


def _read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a part's CSV written by an earlier ``--part`` run (numbers back as floats), or []."""
    if not path.exists():
        return []
    rows = []
    for r in csv.DictReader(path.open()):
        out: dict[str, Any] = {}
        for k, v in r.items():
            if k == "value":  # an ablation's setting, shown as written
                out[k] = v
                continue
            try:
                out[k] = int(v) if k in ("shots", "episodes", "seeds") else float(v)
            except (TypeError, ValueError):
                out[k] = v
        rows.append(out)
    return rows


def targets(rows: list[dict[str, Any]], probes: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    """The issue's three targets: (target, met, measured); a part not run yet is reported as such."""
    out = []
    for setting, goal in (("all classes", 0.96), ("unseen classes", 0.85)):
        cell = [r for r in rows if r["setting"] == setting and int(r["shots"]) == 5]
        name = f"5-way 5-shot, {setting}, best method >= {goal}"
        if cell:
            best = max(cell, key=lambda r: float(r["accuracy"]))
            out.append((name, float(best["accuracy"]) >= goal, f"{best['method']} {float(best['accuracy']):.4f}"))
        else:
            out.append((name, False, "part 1 not run"))
    sup = [float(p["accuracy"]) for p in probes if str(p["source"]).startswith("supervised")]
    ssl = [p for p in probes if not str(p["source"]).startswith("supervised")]
    name = "best self-supervised linear probe within 3 points of supervised (same widths)"
    if sup and ssl:
        best = max(ssl, key=lambda p: float(p["accuracy"]))
        out.append((name, float(best["accuracy"]) >= sup[0] - 0.03,
                    f"{best['source']} {float(best['accuracy']):.4f} vs supervised {sup[0]:.4f}"))
    else:
        out.append((name, False, "part 2 not run"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write README.md, episodes.csv, linear_probe.csv and fewshot_episodes.png."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets (seconds); checks that it works")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/fewshot_episodes/, with --quick its quick/)")
    ap.add_argument("--episodes", type=int, help="episodes per cell, every method (default 600)")
    ap.add_argument("--part", choices=("all", "episodes", "probes"), default="all",
                    help="run one part only; the README reads the other part's files from --out")
    ap.add_argument("--no-ablation", action="store_true", help="part 2 without the self-supervised ablation")
    args = ap.parse_args(argv)
    try:
        args.out = output_folder("fewshot_episodes", args.quick, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    b = {**budgets(args.quick), "quick": args.quick}
    if args.episodes:
        b["episodes"] = args.episodes
    threads = configure_threads()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    cmd = "python -m benchmarks.fewshot_episodes" + (" --quick" if args.quick else "") + \
        (f" --part {args.part}" if args.part != "all" else "")
    budget_txt = ", ".join(f"{k}={v}" for k, v in b.items() if k != "quick")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        saved_cache = os.environ.get("WARMSTART_CACHE")
        os.environ["WARMSTART_CACHE"] = str(work / "cache")  # fresh meta-training, honest timings
        try:
            mnist, digits = get_task("mnist5k"), get_task("digits")
            if args.part in ("all", "episodes"):
                t0 = time.perf_counter()
                sup, sup_facts = pretrain_sources(b, work, mnist, tuple(b["episode_widths"]))
                rows = run_episodes(b, work, mnist, digits, sup, work / "episodes.partial.csv")
                write_csv(out / "episodes.csv", rows)
                write_csv(out / "pretraining_episodes.csv", [{"model": k, **v} for k, v in sup_facts.items()])
                write_text_atomic(out / "provenance_episodes.md", provenance(
                    cmd, [SEED], f"part 1; torch threads {threads}; budgets: {budget_txt}; wall time "
                    f"{time.perf_counter() - t0:.0f} s. {EPISODE_NOTES} Per-episode steps (fixed in advance, so "
                    "that all 600 episodes fit the time budget): maml adapts with maml_adapt_steps, finetune "
                    "trains finetune_steps steps.") + "\n")
            if args.part in ("all", "probes"):
                t0 = time.perf_counter()
                probes, ssl_facts = run_ssl_probes(b, work, mnist, digits, args.quick)
                write_csv(out / "linear_probe.csv", probes)
                write_csv(out / "pretraining_probes.csv", [{"model": k, **v} for k, v in ssl_facts.items()])
                if not args.no_ablation:
                    write_csv(out / "ssl_ablation.csv", run_ssl_ablation(b, work, mnist, digits, args.quick))
                write_text_atomic(out / "provenance_probes.md", provenance(
                    cmd, [SEED], f"part 2; torch threads {threads}; wall time {time.perf_counter() - t0:.0f} s") + "\n")
        finally:
            if saved_cache is None:
                os.environ.pop("WARMSTART_CACHE", None)
            else:
                os.environ["WARMSTART_CACHE"] = saved_cache
    total = time.perf_counter() - t_start
    rows, probes = _read_csv(out / "episodes.csv"), _read_csv(out / "linear_probe.csv")
    ablation = _read_csv(out / "ssl_ablation.csv")
    pre = _read_csv(out / "pretraining_episodes.csv") + _read_csv(out / "pretraining_probes.csv")
    plot(rows, probes, out / "fewshot_episodes.png")
    checks = targets(rows, probes)
    sanity = sanity_checks(rows, probes)
    prov = "\n\n".join(f.read_text().strip() for f in (out / "provenance_episodes.md", out / "provenance_probes.md")
                         if f.exists())
    readme = [
        "# Few-shot episodes (digits) after meta-learning on mnist5k; self-supervised linear probes", "",
        __doc__.split("\n\n", 1)[1].split("Usage:")[0].strip(), "",
        "## Targets", "",
        markdown_table([{"target": t, "met": "yes" if ok else "NO", "measured": m} for t, ok, m in checks]),
        "## Episodes: accuracy ± 95% CI (5-way, 15 queries per class)", "",
        markdown_table(rows, ["setting", "shots", "method", "accuracy", "ci95", "episodes",
                              "adapt_s_per_episode", "meta_train_s"]),
        "## Linear probe on digits, 5 labels per class (mean ± 95% CI over support-set seeds)", "",
        markdown_table(probes, ["source", "accuracy", "ci95", "seeds", "per_seed"]),
        "## Self-supervised ablation (held-out part of digits train; one factor at a time)", "",
        markdown_table(ablation) if ablation else "(not run)\n",
        "## Pretraining", "",
        markdown_table(pre),
        "![plot](fewshot_episodes.png)", "",
        sanity.markdown(),
        "## Provenance", "",
        prov, "",
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
    rows_checks = bool(rows)  # part 1 not run yet (``--part probes``): nothing of it to check
    cells = {(r["setting"], r["shots"]) for r in rows}
    methods = {r["method"] for r in rows}
    counts = sorted({sum(1 for r in rows if (r["setting"], r["shots"]) == c) for c in cells})
    if rows_checks:
        checks.add("every method in every (setting, shots) cell", counts == [len(methods)] and len(cells) == 4,
                   f"{len(cells)} cells, methods per cell {counts} of {len(methods)}")
    accs = [float(r["accuracy"]) for r in [*rows, *probes]]
    checks.add("every accuracy in [0, 1]", bool(accs) and all(0.0 <= a <= 1.0 for a in accs),
               f"{min(accs):.3f}..{max(accs):.3f}" if accs else "no rows")
    for setting in ("all classes", "unseen classes") if rows_checks else ():
        acc = next((float(r["accuracy"]) for r in rows if r["setting"] == setting and int(r["shots"]) == 5
                    and r["method"] == "protonet"), float("nan"))
        checks.add(f"protonet 5-way 5-shot, {setting}: >= 0.3 (chance 0.2)", acc >= 0.3, f"{acc:.3f}")
    for p in probes:
        checks.add(f"linear probe from {p['source']}: >= 0.2 (chance 0.1)", float(p["accuracy"]) >= 0.2,
                   f"{float(p['accuracy']):.3f}")
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
