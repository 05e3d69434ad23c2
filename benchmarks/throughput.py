"""Training throughput of the engine against a minimal hand-written PyTorch loop.

Both train the same model (a fresh copy of one initialization each run) on the
same in-memory data with the same batch size and optimizer (AdamW), batching by
index with a seeded permutation. The engine runs as users get it: the
:class:`~warmstart.engine.Trainer` with its default callbacks, cosine schedule,
divergence check and the rich progress bar ON (forced on even when
``WARMSTART_NO_PROGRESS`` is set, and rendered to a terminal-like console so
its drawing costs count; the drawing goes to ``os.devnull``). The raw loop is
permutation → index → forward → cross-entropy → zero_grad → backward → step.

Runs are interleaved (engine, raw, raw, engine, ...) for R rounds so load
changes on a shared machine hit both alike; the result is the median over rounds
of the per-round ratio engine/raw samples per second. The ratio is printed last.

Usage:
    python -m benchmarks.throughput            # full run, writes benchmarks/results/throughput/
    python -m benchmarks.throughput --quick    # a few seconds, only checks that it works
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks._report import Checks, markdown_table, mean_std, output_folder, paired_ci, provenance, write_csv
from warmstart._atomic import atomic_path, write_text_atomic
from warmstart.engine import TrainConfig, Trainer, configure_threads, seed_everything
from warmstart.engine import progress as progress_mod


@contextlib.contextmanager
def progress_forced_on(sink: TextIO | None = None) -> Iterator[None]:
    """Progress bars on, drawn as on a terminal, into ``sink`` (default ``os.devnull``)."""
    from rich.console import Console

    saved_env = os.environ.pop("WARMSTART_NO_PROGRESS", None)
    saved_console = progress_mod._console
    with contextlib.ExitStack() as stack:
        out = sink if sink is not None else stack.enter_context(open(os.devnull, "w"))
        progress_mod._console = Console(file=out, force_terminal=True, width=120)
        try:
            yield
        finally:
            progress_mod._console = saved_console
            if saved_env is not None:
                os.environ["WARMSTART_NO_PROGRESS"] = saved_env


def raw_loop(model: nn.Module, x: Tensor, y: Tensor, epochs: int, batch_size: int, lr: float,
             weight_decay: float, seed: int) -> int:
    """The minimal loop; returns the number of samples processed."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n, seen = len(x), 0
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
    return seen


def engine_run(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> int:
    """The engine's fit with progress on; returns the number of samples processed."""
    trainer = Trainer(model, cfg)
    hist = trainer.fit(x, y, description="throughput")
    n = len(x)
    stop = n - 1 if (n > cfg.batch_size and n % cfg.batch_size == 1) else n
    return stop * len(hist.epochs)


def load_data(n: int | None, synthetic: bool = False) -> tuple[Tensor, Tensor]:
    """mnist5k's training split (optionally ``n`` rows of it after a seeded shuffle).

    ``synthetic`` gives random images of the same shape instead (``--quick``: no dataset load).
    """
    if synthetic:
        g = torch.Generator().manual_seed(0)
        n = n or 256
        return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    from warmstart.tasks import get_task

    task = get_task("mnist5k")
    x, y = task.x_train, task.y_train
    if n is not None and n < len(x):
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]
        x, y = x[idx], y[idx]
    return x.contiguous(), y.contiguous()


def new_classifier(widths: tuple[int, ...], x: Tensor) -> nn.Module:
    """smallcnn + linear head, inputs normalized with the data's mean and std."""
    from warmstart.backbones import create_backbone
    from warmstart.backbones.classifier import Classifier, InputSpec

    seed_everything(0)
    bb = create_backbone("smallcnn", in_chans=1, input_size=(28, 28), widths=tuple(widths))
    spec = InputSpec(modality="image", mean=[float(x.mean())], std=[float(x.std())])
    return Classifier(bb, 10, input_spec=spec)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Interleaved rounds; one row per round with both throughputs and their ratio."""
    threads = configure_threads(args.threads)
    x, y = load_data(args.n, synthetic=args.quick)
    base = new_classifier(args.widths, x)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, weight_decay=1e-4,
                      augment="none", device="cpu", progress=True, seed=0)
    rows = []
    with progress_forced_on():
        assert progress_mod.progress_enabled(True)
        # warm-up: one short run of each (allocator, first-call costs)
        engine_run(copy.deepcopy(base), x[:256], y[:256], TrainConfig(**{**cfg.to_json(), "epochs": 1}))
        raw_loop(copy.deepcopy(base), x[:256], y[:256], 1, cfg.batch_size, cfg.lr, cfg.weight_decay, 0)
        for r in range(args.rounds):
            wall: dict[str, float] = {}
            cpu: dict[str, float] = {}
            samples: dict[str, int] = {}
            order = ("engine", "raw") if r % 2 == 0 else ("raw", "engine")
            for which in order:
                model = copy.deepcopy(base)
                t0, c0 = time.perf_counter(), time.process_time()
                if which == "engine":
                    samples[which] = engine_run(model, x, y, cfg)
                else:
                    samples[which] = raw_loop(model, x, y, cfg.epochs, cfg.batch_size, cfg.lr,
                                              cfg.weight_decay, 0)
                wall[which], cpu[which] = time.perf_counter() - t0, time.process_time() - c0
            eng, raw = samples["engine"] / wall["engine"], samples["raw"] / wall["raw"]
            eng_cpu, raw_cpu = samples["engine"] / cpu["engine"], samples["raw"] / cpu["raw"]
            rows.append({"round": r + 1, "first": order[0], "images": len(y), "engine_samples": samples["engine"],
                         "raw_samples": samples["raw"], "engine_samples_per_s": eng,
                         "raw_samples_per_s": raw, "ratio": eng / raw,
                         "engine_samples_per_cpu_s": eng_cpu, "raw_samples_per_cpu_s": raw_cpu,
                         "cpu_ratio": eng_cpu / raw_cpu, "threads": threads})
            print(f"round {r + 1}/{args.rounds}: engine {eng:.1f} samples/s, raw {raw:.1f} samples/s, "
                  f"ratio {eng / raw:.3f} (per CPU-second: {eng_cpu / raw_cpu:.3f})", file=sys.stderr, flush=True)
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Median ratio and mean ± sd of each throughput."""
    ratios = [r["ratio"] for r in rows]
    log_ratio = [math.log(r) for r in ratios]
    gm, lo, hi = paired_ci(log_ratio, [0.0] * len(log_ratio)) if len(rows) > 1 else (log_ratio[0],) * 3
    em, es = mean_std([r["engine_samples_per_s"] for r in rows])
    rm, rs = mean_std([r["raw_samples_per_s"] for r in rows])
    return {"median_ratio": statistics.median(ratios), "min_ratio": min(ratios), "max_ratio": max(ratios),
            "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rows),
            "geomean_ratio": math.exp(gm), "geomean_lo": math.exp(lo), "geomean_hi": math.exp(hi),
            "engine_mean": em, "engine_sd": es, "raw_mean": rm, "raw_sd": rs}


def plot(path: Path, rows: list[dict[str, Any]]) -> None:
    """Per-round ratios (wall clock and per CPU-second) with the 0.95 target line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    rounds = [int(r["round"]) for r in rows]
    ax.plot(rounds, [float(r["ratio"]) for r in rows], "o-", label="wall clock")
    ax.plot(rounds, [float(r["cpu_ratio"]) for r in rows], "s--", label="per CPU-second")
    ax.axhline(0.95, color="red", lw=1, label="target 0.95")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_xlabel("round")
    ax.set_ylabel("engine / raw samples per s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def sanity_checks(rows: list[dict[str, Any]], epochs: int) -> Checks:
    """What must hold in any run: both loops train on every sample of every epoch, at a finite positive rate."""
    checks = Checks()
    expected_samples = epochs * int(rows[0]["images"])
    for which in ("engine", "raw"):
        counts = sorted({int(r[f"{which}_samples"]) for r in rows})
        checks.add(f"{which}: {expected_samples} samples (epochs x images) in every round",
                   counts == [expected_samples], f"counted {counts}")
    rates = [r[k] for r in rows for k in ("engine_samples_per_s", "raw_samples_per_s", "ratio")]
    checks.add("throughputs and ratios finite and > 0", all(math.isfinite(v) and v > 0 for v in rates),
               f"min {min(rates):.3g}")
    return checks


def write_results(out: Path, rows: list[dict[str, Any]], summary: dict[str, float], args: argparse.Namespace,
                  command: str, checks: Checks) -> None:
    """README.md (summary table, per-round table, provenance) and rounds.csv."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "rounds.csv", rows)
    plot(out / "ratios.png", rows)
    verdict = "met" if summary["median_ratio"] >= 0.95 else "NOT met"
    table = markdown_table([
        {"loop": "engine (Trainer, progress bar on)", "samples/s (mean ± sd)":
            f"{summary['engine_mean']:.1f} ± {summary['engine_sd']:.1f}"},
        {"loop": "raw PyTorch loop", "samples/s (mean ± sd)": f"{summary['raw_mean']:.1f} ± {summary['raw_sd']:.1f}"},
    ])
    text = f"""# Training throughput: engine vs a raw PyTorch loop

Median over {len(rows)} interleaved rounds of the per-round ratio engine/raw samples per second:
**{summary['median_ratio']:.3f}** (range {summary['min_ratio']:.3f}–{summary['max_ratio']:.3f}).
Target ≥ 0.95: **{verdict}**. Geometric mean of the ratios {summary['geomean_ratio']:.3f}, 95 % CI
{summary['geomean_lo']:.3f}–{summary['geomean_hi']:.3f} (t interval on log ratios over rounds).
Measured per CPU-second of this process instead of per wall-clock second (less sensitive to other
jobs taking the cores; the engine's progress-bar drawing counts, it runs in the training
thread), the median ratio is **{summary['median_cpu_ratio']:.3f}**.

{table}
Setup: smallcnn (widths {list(args.widths)}) classifier on mnist5k's training split
({'all' if args.n is None else args.n} images, 1×28×28), batch size {args.batch_size}, AdamW (lr 1e-3,
weight decay 1e-4), {args.epochs} epoch(s) per run, CPU. The engine runs `Trainer.fit` with its
default callbacks, cosine schedule, divergence check and the rich progress bar on (drawn as on
a terminal into /dev/null); the raw loop is permutation → index → forward → cross-entropy →
zero_grad → backward → step. Each round runs both once on fresh copies of one initialization,
alternating which goes first.

Per round (`rounds.csv`; plot `ratios.png`):

{markdown_table(rows, ["round", "first", "engine_samples_per_s", "raw_samples_per_s", "ratio", "cpu_ratio"])}
{checks.markdown()}
## Provenance

{provenance(command, [0], notes=f"rounds {args.rounds}, torch threads {rows[0]['threads'] if rows else '-'}, "
            f"1-minute load average {args.load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run "
            f"on {os.cpu_count()} cores; the machine "
            "was shared with other jobs, which is why runs are interleaved and the median ratio is "
            "reported")}
"""
    write_text_atomic(out / "README.md", text)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the median ratio last. Returns 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny run (seconds): checks that it works")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n", type=int, default=None, help="training images (default: all of mnist5k's train split)")
    p.add_argument("--widths", type=int, nargs=3, default=(32, 64, 128), help="smallcnn stage widths")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: WARMSTART_THREADS or cores)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default benchmarks/results/throughput/, with --quick its quick/)")
    args = p.parse_args(argv)
    try:
        out = output_folder("throughput", args.quick, args.out)
    except ValueError as exc:
        p.error(str(exc))
    args.load_before = os.getloadavg()[0]
    if args.quick:
        args.rounds, args.n, args.widths, args.epochs = 2, 256, (8, 16, 16), 1
        args.threads = args.threads or 1
    command = "python -m benchmarks.throughput " + " ".join(argv if argv is not None else sys.argv[1:])
    before = torch.get_num_threads()
    try:
        rows = measure(args)
        summary = summarize(rows)
        checks = sanity_checks(rows, args.epochs)
        write_results(out, rows, summary, args, command.strip(), checks)
    finally:
        torch.set_num_threads(before)  # --quick runs inside the test process
    print(f"engine {summary['engine_mean']:.1f} samples/s, raw loop {summary['raw_mean']:.1f} samples/s; "
          f"median ratio per CPU-second {summary['median_cpu_ratio']:.3f}")
    code = checks.exit_code()
    print(f"throughput ratio engine/raw (median of {len(rows)} rounds): {summary['median_ratio']:.3f}")
    return code


if __name__ == "__main__":
    sys.exit(main())
