"""protonet settings on held-out episodes (how the fewshot_episodes settings were chosen).

Meta-trains ``protonet`` on mnist5k's train split (all classes, or classes 0-4 for
``half``) from a supervised checkpoint of the same classes, then scores 5-way
5-shot 15-query episodes (seed 100) of two held-out pools: mnist5k's *test* split
(never trained on) and digits' *train* split; for ``half`` only classes 5-9. The
benchmark's evaluation episodes (digits, all splits, seed 0) are never drawn
here; digits' train images are part of their pool, drawn as other episodes.
Prints one JSON line per run. Results: benchmarks/results/fewshot_episodes/protonet_heldout.md.

Usage:
    python -m benchmarks.fewshot_protonet_heldout half --widths 32,64,128 meta_episodes=200 pretrain_epochs=10
    python -m benchmarks.fewshot_protonet_heldout all --quick        # seconds; checks that it works
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks._params import parse_params
from benchmarks._report import mean_ci
from warmstart.engine import TrainConfig, configure_threads
from warmstart.pretraining import pretrain_supervised
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import get_task
from warmstart.tasks.episodes import EpisodeSampler

HELD_OUT_SEED = 100
UNSEEN = ["5", "6", "7", "8", "9"]


def run(setting: str, widths: tuple[int, ...], params: dict[str, Any], *, episodes: int, sup_epochs: int,
        cache: Path, sup_images: int | None = None) -> dict[str, Any]:
    """Meta-train once, score ``episodes`` held-out episodes of each pool; return a JSON-ready record."""
    half = setting == "half"
    mnist, digits = get_task("mnist5k"), get_task("digits")
    source_task = mnist.subset_classes([0, 1, 2, 3, 4]) if half else mnist
    if sup_images is not None:
        source_task = source_task.replace(x_train=source_task.x_train[:sup_images],
                                          y_train=source_task.y_train[:sup_images])
    sup = cache / f"sup_{setting}_{'-'.join(map(str, widths))}_e{sup_epochs}_n{sup_images}"
    if not (sup / "meta.json").exists():
        cfg = TrainConfig(epochs=sup_epochs, lr=3e-3, augment="light", seed=0, progress=False)
        pretrain_supervised(source_task, sup, config=cfg, widths=widths)
    src = Source(path=sup, task_name="mnist5k")
    params = {**({"source_classes": "0,1,2,3,4"} if half else {}), **params}
    strat = get_strategy("protonet", seed=0, progress=False, **params)
    record: dict[str, Any] = {"setting": setting, "widths": list(widths), "params": params}
    for pool, task, split in (("mnist_test", mnist, "test"), ("digits_train", digits, "train")):
        sampler = EpisodeSampler.from_task(task, 5, 5, 15, split=split, classes=UNSEEN if half else None,
                                           seed=HELD_OUT_SEED)
        accs = []
        for i in range(episodes):
            ep = sampler.episode(i).as_task("held-out", "image", task.input_shape)
            strat.fit(ep, src)
            accs.append(strat.score(ep.x_test, ep.y_test))
        mean, ci = mean_ci(accs)
        record[pool] = {"accuracy": round(mean, 4), "ci95": round(ci, 4), "episodes": episodes}
    meta = strat.info_["meta_trained"]
    record["meta_train_s"] = round(float(meta.get("seconds", 0.0)), 1)
    record["cached"] = bool(meta.get("cached"))
    return record


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run once, print the JSON record."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("setting", choices=("all", "half"), help="all: source classes 0-9; half: 0-4, score 5-9")
    ap.add_argument("params", nargs="*", help="protonet options as key=value")
    ap.add_argument("--widths", default="32,64,128", help="smallcnn widths of the supervised checkpoint")
    ap.add_argument("--episodes", type=int, default=200, help="held-out episodes per pool")
    ap.add_argument("--sup-epochs", type=int, default=10, help="epochs of the supervised checkpoint")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder for checkpoints and meta-training (default: a temporary one)")
    ap.add_argument("--quick", action="store_true", help="tiny budgets (seconds); checks that it works")
    args = ap.parse_intermixed_args(argv)
    try:
        params = parse_params(args.params)
    except ValueError as exc:
        ap.error(str(exc))
    widths = tuple(int(w) for w in args.widths.split(","))
    episodes, sup_epochs, sup_images = args.episodes, args.sup_epochs, None
    if args.quick:
        widths, episodes, sup_epochs, sup_images = (8, 16, 16), 3, 1, 200
        params = {"meta_episodes": 2, "meta_queries": 3, "pretrain_epochs": 1, **params}
    configure_threads()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        saved = os.environ.get("WARMSTART_CACHE")
        os.environ["WARMSTART_CACHE"] = str(cache / "warmstart")
        try:
            record = run(args.setting, widths, params, episodes=episodes, sup_epochs=sup_epochs, cache=cache,
                         sup_images=sup_images)
        finally:
            if saved is None:
                os.environ.pop("WARMSTART_CACHE", None)
            else:
                os.environ["WARMSTART_CACHE"] = saved
    record["wall_s"] = round(time.perf_counter() - t0, 1)
    record["torch_threads"] = torch.get_num_threads()
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
