"""Few-shot transfer benchmark: every transfer strategy vs scratch vs a plain hand-written fine-tune, and the
methods that also learn from the target's unlabelled pool.

Directions: source ``mnist5k`` → target ``digits`` and the reverse (source ``digits`` →
target ``mnist5k``), with 1, 5 and 10 labelled images per class *in total* (the few-shot
protocol: no labelled validation data beyond those). Each source is pretrained once with
the same code as ``warmstart pretrain`` (smallcnn, light augmentation). For every seed,
every method sees the same support set. Strategies run with their defaults as set in
code (chosen on other tasks); nothing is tuned on the targets.

With ``--pool`` (the default) the pool methods run too (:data:`POOL_STRATEGIES`:
``fixmatch`` from the source model, and ``self_training``, ``mcc`` and ``self_training+mcc``,
which also train on the labelled source task and take the support labels as a third loss term), on the
target's unlabelled pool: the target's training images outside the support set plus its
validation images, as the few-shot protocol leaves them (their labels are never read).
``--no-pool`` runs only the pool-free strategies: the table of earlier runs.

Reported: test accuracy (mean ± std over seeds), the paired difference to the plain
reference with a 95% t confidence interval, head use, and wall time per fit; with the
pool, per (direction, shots) the best pool method's paired gain over the best pool-free
strategy with its 95% t confidence interval (both "best" by mean test accuracy: a
reporting choice, not a selection a user could make); and the issue's targets, met or not.

Usage:
    python -m benchmarks.fewshot                 # full run → benchmarks/results/fewshot/
    python -m benchmarks.fewshot --quick         # seconds → benchmarks/results/fewshot/quick/ (git-ignored)
    python -m benchmarks.fewshot --no-pool       # only the pool-free strategies (the earlier table)
    python -m benchmarks.fewshot --shots 1 --out A &   # parts on separate cores (one thread each), then
    python -m benchmarks.fewshot --shots 10 --out B &
    python -m benchmarks.fewshot --shots 1 10 --merge A B   # the report of both (runs nothing)
    python -m benchmarks.fewshot --shard 4/9 --out C   # or one (direction, shots, seed) cell of nine a process

Exit code 1 when a sanity check fails (see :func:`sanity_checks`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks._fewshot_pool import pool_gains, pool_section, targets_section
from benchmarks._report import Checks, markdown_table, mean_std, output_folder, paired_ci, provenance, write_csv
from benchmarks._shard import parse_shard
from warmstart._atomic import write_text_atomic

STRATEGIES = ["scratch", "linear_probe", "finetune", "gradual_unfreeze", "l2sp", "llrd", "bss", "multitask"]
#: methods that learn from the target's unlabelled pool too (all take the support labels); ``self_training+mcc``
#: is self_training with MCC added at weight 1 (the domain-adaptation benchmark's method of that name)
POOL_STRATEGIES = ["fixmatch", "self_training", "mcc", "self_training+mcc"]
#: --quick: a few steps of each pool method (fixmatch's iterations; the adaptation loop's steps and scores)
QUICK_POOL: dict[str, Any] = {"iterations": 6, "score_samples": 30}
DIRECTIONS = [("mnist5k", "digits"), ("digits", "mnist5k")]
QUICK_SOURCE: dict[str, Any] = {"epochs": 2, "subset": 1500, "widths": (8, 16, 32)}  # a few seconds, well above chance


# --------------------------------------------------------------------------- plain reference
def plain_reference(source: Path, x: torch.Tensor, y: torch.Tensor, n_classes: int, seed: int,
                    steps: int = 100, lr: float = 1e-3, batch_size: int = 64) -> torch.nn.Module:
    """What a user writes by hand: load the source, reuse its head, Adam on all weights.

    Fixed settings (100 steps, Adam 1e-3, batches of up to 64, no augmentation), the
    model in train mode throughout (batch norm updates its statistics on the support set).
    """
    from warmstart.backbones.checkpoint import load_checkpoint

    torch.manual_seed(seed)
    ckpt = load_checkpoint(source)
    model = ckpt.model
    if model.n_classes != n_classes:  # the class sets differ: a new head
        model.replace_head(n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randperm(len(y), generator=gen)[:batch_size]
        if len(idx) == 1:  # batch norm needs two examples
            idx = torch.cat([idx, idx])
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Test accuracy of a model in eval mode."""
    model.eval()
    pred = torch.cat([model(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])
    return float((pred == y).float().mean())


# --------------------------------------------------------------------------- sources
def pretrained_source(task_name: str, folder: Path, epochs: int, subset: int | None = None,
                      widths: tuple[int, ...] | None = None) -> Path:
    """Pretrain (once, cached in ``folder``) a smallcnn on ``task_name`` as ``warmstart pretrain`` does."""
    from warmstart.backbones.checkpoint import load_checkpoint
    from warmstart.engine.config import TrainConfig
    from warmstart.pretraining.supervised import pretrain_supervised
    from warmstart.tasks import get_task

    out = folder / (f"{task_name}-smallcnn-e{epochs}" + (f"-n{subset}" if subset else ""))
    if (out / "meta.json").exists():
        try:
            load_checkpoint(out)
            return out
        except Exception:
            pass
    task = get_task(task_name)
    if subset:
        task = task.replace(x_train=task.x_train[:subset], y_train=task.y_train[:subset])
    cfg = TrainConfig(epochs=epochs, lr=3e-3, batch_size=64, augment="light", progress=False, seed=0)
    kw: dict[str, Any] = {"widths": widths} if widths else {}
    pretrain_supervised(task, out, config=cfg, **kw)
    return out


# --------------------------------------------------------------------------- run
def run_one(method: str, source_path: Path, source_task: str, target: Any, seed: int,
            overrides: dict[str, Any]) -> dict[str, Any]:
    """Fit one method on one support set; return accuracy, head use and seconds."""
    from benchmarks.domain_adaptation import method_recipe
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.source import Source
    from warmstart.strategies import strategy_class

    t0 = time.perf_counter()
    if method == "reference":
        steps = int(overrides.get("min_steps", 100))
        model = plain_reference(source_path, target.x_train, target.y_train, target.n_classes, seed, steps=steps)
        acc, head = accuracy(model, target.x_test, target.y_test), "reuse"
    else:
        name, extra = method_recipe(method)
        cls = strategy_class(name)
        table = cls.param_table()
        kw = {**{k: v for k, v in overrides.items() if k in table}, **extra}
        src_task = source_task if cls.needs_source_task else None
        recipe = Recipe(name, kw, source=str(source_path), source_task=src_task, seed=seed)
        res = run_recipe(target, recipe, validation="none", device="cpu",
                         source=Source(path=source_path, task_name=src_task))
        acc, head = res.test["accuracy"], str(res.info.get("head", "-"))
    return {"accuracy": acc, "head": head, "seconds": time.perf_counter() - t0}


def summarize(runs: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """Per (direction, shots, method): mean ± std, paired difference to the reference, CI, seconds."""
    rows = []
    keys = sorted({(r["direction"], r["shots"]) for r in runs}, key=lambda k: (k[0] != "mnist5k→digits", k[1]))
    for direction, shots in keys:
        sel = [r for r in runs if r["direction"] == direction and r["shots"] == shots]
        ref = {r["seed"]: r["accuracy"] for r in sel if r["method"] == "reference"}
        for m in ["reference", *methods]:
            rs = sorted((r for r in sel if r["method"] == m), key=lambda r: r["seed"])
            if not rs:
                continue
            mean, std = mean_std([r["accuracy"] for r in rs])
            paired = [r for r in rs if r["seed"] in ref]
            diff, lo, hi = paired_ci([r["accuracy"] for r in paired], [ref[r["seed"]] for r in paired])
            rows.append({"direction": direction, "shots": shots, "method": m, "head": rs[0]["head"],
                         "seeds": len(rs), "accuracy_mean": mean, "accuracy_std": std,
                         "diff_vs_reference": diff, "ci95_low": lo, "ci95_high": hi,
                         "seconds_mean": mean_std([r["seconds"] for r in rs])[0]})
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Accuracy vs shots, one line per method, one panel per direction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from warmstart._atomic import atomic_path

    directions = list(dict.fromkeys(r["direction"] for r in rows))
    fig, axes = plt.subplots(1, len(directions), figsize=(6 * len(directions), 4.5), squeeze=False)
    for ax, d in zip(axes[0], directions, strict=True):
        for m in dict.fromkeys(r["method"] for r in rows):
            pts = sorted((r["shots"], r["accuracy_mean"], r["accuracy_std"]) for r in rows
                         if r["direction"] == d and r["method"] == m)
            if pts:
                xs, ys, es = zip(*pts, strict=True)
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=m,
                            linestyle="--" if m in ("reference", "scratch") else "-")
        ax.set_title(d)
        ax.set_xlabel("labelled images per class")
        ax.set_ylabel("test accuracy")
        ax.set_xticks(sorted({r["shots"] for r in rows}))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write README.md, fewshot.csv, fewshot_runs.csv and fewshot.png to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds: tiny source, 1 shot, 1 seed")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/fewshot/, with --quick its quick/)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds for mnist5k→digits")
    ap.add_argument("--reverse-seeds", type=int, default=2, help="seeds for digits→mnist5k")
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--strategies", nargs="+", default=STRATEGIES, help="pool-free strategies")
    ap.add_argument("--pool", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the pool methods on the target's unlabelled pool (--no-pool: the earlier table)")
    ap.add_argument("--pool-strategies", nargs="+", default=POOL_STRATEGIES,
                    help="the methods that use the pool (with --pool)")
    ap.add_argument("--pretrain-epochs", type=int, default=12)
    ap.add_argument("--min-steps", type=int, default=None,
                    help="override every method's min_steps (default: each strategy's own)")
    ap.add_argument("--no-reverse", action="store_true", help="skip digits→mnist5k")
    ap.add_argument("--resume", action="store_true", help="keep finished runs from OUT/runs.jsonl")
    ap.add_argument("--shard", default="0/1", help="I/N: run only every N-th (direction, shots, seed) cell, from "
                    "the I-th, in the order direction, shots, seed (one process per core or per cell, each with "
                    "its own --out and the same other options; then --merge)")
    ap.add_argument("--merge", type=Path, nargs="+", default=None, metavar="DIR",
                    help="run nothing: combine the runs.jsonl of earlier partial runs (e.g. one per core) into "
                         "OUT/runs.jsonl and write the report (a (direction, shots, seed, method) run twice keeps "
                         "the first)")
    args = ap.parse_args(argv)
    try:
        args.out = output_folder("fewshot", args.quick, args.out)
        shard = parse_shard(args.shard)
    except ValueError as exc:
        ap.error(str(exc))
    os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")
    from warmstart.engine.device import configure_threads
    from warmstart.tasks import get_task

    configure_threads()  # $WARMSTART_THREADS or the usable cores, also for the plain reference

    t_start = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {}
    pool_overrides: dict[str, Any] = {}  # added for the pool methods only
    if args.quick:
        shots, seeds, rseeds = [1], [0], []
        overrides = {"min_steps": 4, "epochs": 1, "max_iter": 20}
        pool_overrides = dict(QUICK_POOL)
        directions = DIRECTIONS[:1]
    else:
        shots, seeds = args.shots, list(range(args.seeds))
        rseeds = [] if args.no_reverse else list(range(args.reverse_seeds))
        directions = DIRECTIONS
        if args.min_steps is not None:
            overrides["min_steps"] = args.min_steps
    src_dir = out / ".sources" if args.quick else Path(os.environ.get("WARMSTART_CACHE", Path.home() / ".cache"
                                                                      / "warmstart")) / "fewshot-sources"
    runs_file = out / "runs.jsonl"
    done: dict[tuple[Any, ...], dict[str, Any]] = {}
    sources = args.merge or ([runs_file.parent] if args.resume and runs_file.exists() else [])
    for folder in sources:
        if not (folder / "runs.jsonl").exists():
            ap.error(f"--merge: {folder / 'runs.jsonl'} does not exist")
        for line in (folder / "runs.jsonl").read_text().splitlines():
            r = json.loads(line)
            done.setdefault((r["direction"], r["shots"], r["seed"], r["method"]), r)
    if args.merge:
        write_text_atomic(runs_file, "".join(json.dumps(r) + "\n" for r in done.values()))
    elif not sources:
        runs_file.unlink(missing_ok=True)
    runs: list[dict[str, Any]] = list(done.values())
    pool_methods = list(args.pool_strategies) if args.pool else []
    methods = list(args.strategies) + [m for m in pool_methods if m not in args.strategies]
    source_info = {}
    cell = -1  # the (direction, shots, seed) cells in order; --shard keeps every N-th
    for (src_name, tgt_name), dseeds in zip(directions, [seeds, rseeds], strict=False):
        if not dseeds:
            continue
        if args.quick:
            src = pretrained_source(src_name, src_dir, QUICK_SOURCE["epochs"], subset=QUICK_SOURCE["subset"],
                                    widths=QUICK_SOURCE["widths"])
        else:
            src = pretrained_source(src_name, src_dir, args.pretrain_epochs)
        source_info[src_name] = json.loads((src / "meta.json").read_text())["metrics"]["test"]["accuracy"]
        base = get_task(tgt_name)
        direction = f"{src_name}→{tgt_name}"
        for k in shots:
            for seed in dseeds:
                cell += 1
                if cell % shard[1] != shard[0]:
                    continue
                target = base.few_shot(k, seed=seed)
                assert target.x_unlabeled is not None  # the few-shot cut leaves the rest as the pool
                if args.quick:
                    target = target.replace(x_test=target.x_test[:200], y_test=target.y_test[:200],
                                            x_unlabeled=target.x_unlabeled[:100])
                for m in ["reference", *methods]:
                    if (direction, k, seed, m) in done or args.merge:
                        continue
                    ov = {**overrides, **pool_overrides} if m in pool_methods else overrides
                    r = run_one(m, src, src_name, target, seed, ov)
                    r.update(direction=direction, shots=k, seed=seed, method=m)
                    runs.append(r)
                    with open(runs_file, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
                    print(f"{direction} shots={k} seed={seed} {m:17s} acc={r['accuracy']:.4f} "
                          f"({r['seconds']:.1f}s)", file=sys.stderr, flush=True)
    if not runs:
        print(f"--shard {args.shard}: no (direction, shots, seed) cell falls to this shard: nothing to run or report",
              file=sys.stderr)
        return 0
    rows = summarize(runs, methods)
    gains = pool_gains(runs, list(args.strategies), pool_methods)
    wall = time.perf_counter() - t_start
    write_csv(out / "fewshot.csv", rows)
    if gains:
        write_csv(out / "fewshot_pool.csv", gains)
    write_csv(out / "fewshot_runs.csv", [{k: r[k] for k in ("direction", "shots", "seed", "method", "head",
                                                             "accuracy", "seconds")} for r in runs])
    plot(rows, out / "fewshot.png")
    cmd = "python -m benchmarks.fewshot " + " ".join(argv if argv is not None else sys.argv[1:])
    checks = sanity_checks(runs, methods, source_info)
    quick_src = f"{QUICK_SOURCE['epochs']} epochs on {QUICK_SOURCE['subset']} images, widths {QUICK_SOURCE['widths']}"
    pool_note = ""
    if pool_methods:
        pool_note = (f"; pool methods {', '.join(pool_methods)} at their code defaults"
                     f"{' with overrides ' + str(pool_overrides) if pool_overrides else ''}, on each target's pool "
                     "(its training images outside the support set and its validation images; labels never read)")
    notes = (f"sources: smallcnn pretrained {quick_src if args.quick else f'{args.pretrain_epochs} epochs'} "
             f"(light augmentation, AdamW 3e-3), source test accuracy {source_info}; strategies at their "
             f"code defaults{' with overrides ' + str(overrides) if overrides else ''}{pool_note}; reference = "
             f"hand-written fine-tune (source head reused, Adam 1e-3, 100 steps, no augmentation); "
             f"seeds: {len(seeds)} for mnist5k→digits, {len(rseeds)} for digits→mnist5k; "
             + (f"runs merged from {', '.join(map(str, args.merge))} (each run's seconds as measured there)"
                if args.merge else f"total wall time {wall:.0f}s"))
    cols = ["direction", "shots", "method", "head", "seeds", "accuracy_mean", "accuracy_std",
            "diff_vs_reference", "ci95_low", "ci95_high", "seconds_mean"]
    text = ("# Few-shot transfer benchmark\n\n"
            "Test accuracy with k labelled images per class in total (no other labels), mean ± std over "
            "seeds; `diff_vs_reference` is the paired difference to the plain hand-written fine-tune, with "
            "a 95% t confidence interval (`ci95_low`, `ci95_high`).\n\n"
            + markdown_table(rows, cols) + "\n![accuracy vs shots](fewshot.png)\n\n"
            + pool_section(gains, pool_methods) + targets_section(runs) + checks.markdown()
            + "\n## Provenance\n\n"
            + provenance(cmd, seeds, notes) + "\n")
    write_text_atomic(out / "README.md", text)
    print(markdown_table(rows, cols))
    print(pool_section(gains, pool_methods) + targets_section(runs), end="")
    print(f"wall time {wall:.1f}s")
    return checks.exit_code()


def sanity_checks(runs: list[dict[str, Any]], methods: list[str], source_accuracy: dict[str, float],
                  n_classes: int = 10) -> Checks:
    """What must hold at any budget, ``--quick`` included.

    Every accuracy in [0, 1]; each method ran, exactly once per (shots, seed) of every direction it ran in
    (a direction may leave a method out, not every direction), and the reference in every cell; each
    source classifies its own test split above chance (1/n_classes + 0.05); and per (direction,
    shots) the best transfer method beats ``scratch`` (when scratch ran): by at least 0.05 at 1 shot,
    and at all at more shots, where scratch nears the ceiling (10 shots: 0.947 vs 0.961).
    """
    checks = Checks()
    accs = [r["accuracy"] for r in runs]
    checks.add("every accuracy in [0, 1]", all(0.0 <= a <= 1.0 for a in accs), f"{min(accs):.3f}..{max(accs):.3f}")
    once, detail = True, []
    for d in sorted({r["direction"] for r in runs}):  # a direction may run fewer methods (e.g. a costly one left out)
        sel = [r for r in runs if r["direction"] == d]
        cells = {(r["shots"], r["seed"]) for r in sel}
        counts = {m: n for m in ["reference", *methods] if (n := sum(r["method"] == m for r in sel))}
        once &= set(counts.values()) == {len(cells)} and "reference" in counts
        detail.append(f"{d}: {len(cells)} cells, runs per method {counts}")
    never = [m for m in methods if not any(r["method"] == m for r in runs)]
    checks.add("each method ran in some direction, once per (shots, seed) of each direction it ran in; the "
               "reference in every one", once and not never,
               "; ".join(detail) + (f"; never ran: {', '.join(never)}" if never else ""))
    chance = 1.0 / n_classes
    for name, acc in source_accuracy.items():
        checks.add(f"source {name} above chance on its test split", acc >= chance + 0.05, f"{acc:.3f}")
    if "scratch" in methods:
        for d, k in sorted({(r["direction"], r["shots"]) for r in runs}):
            sel = [r for r in runs if r["direction"] == d and r["shots"] == k]
            mean = {m: float(sum(r["accuracy"] for r in sel if r["method"] == m))
                    / max(1, sum(r["method"] == m for r in sel)) for m in ["reference", *methods]}
            best = max((m for m in mean if m != "scratch"), key=lambda m: mean[m])
            margin = 0.05 if k == 1 else 0.0
            checks.add(f"{d}, {k} shot(s): best transfer method beats scratch by >= {margin}",
                       mean[best] >= mean["scratch"] + margin,
                       f"{best} {mean[best]:.3f} vs scratch {mean['scratch']:.3f}")
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
