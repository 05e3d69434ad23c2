"""Benchmark: seconds per 1,000 DANN training steps, warmstart's against TLlib's, on the same network.

Issue 15 asks for a domain-adaptation training step no slower than TLlib's (Jiang et al., Transfer-Learning-
Library, github.com/thuml/Transfer-Learning-Library) on the same network. Both sides here train DANN
(Ganin et al., JMLR 2016) from the same pretrained source checkpoint (the default source of
``mnist5k-a``: a smallcnn 32-64-128) on ``mnist5k-a`` → ``mnist5k-b-inverted`` (28×28 grey on both sides,
so no input conversion is timed), 32 source + 32 target images a step, one torch thread, on the CPU:

- **TLlib**: its own modules, imported from a TLlib checkout (``--tllib``; TLlib is not on PyPI):
  ``tllib.alignment.dann.ImageClassifier`` (the 256-wide bottleneck, a new head) around the source's
  feature extractor, ``DomainDiscriminator(256, 1024)``, ``DomainAdversarialLoss``, SGD with Nesterov
  momentum and its LambdaLR schedule, and the loop of its ``examples/.../dann.py`` (one forward of the
  concatenated batch, ``ForeverDataIterator`` over shuffled ``DataLoader`` s of in-memory tensors: TLlib's
  image decoding and transforms are left out, to its advantage).
- **warmstart**: ``dann`` through :func:`warmstart.recipe.run_recipe`, once at its defaults and once on
  TLlib's network (``bottleneck=256``, ``domain_bn=joint``, ``source_augment=none``), with the step's
  seconds as the strategy reports them (training only: evaluations, AdaBN and the augmentation choice
  excluded — ``seconds_per_1000_steps``).

Each side runs ``--repeats`` times, interleaved; the table has the median. Run it alone on the machine.

Usage:
    python -m benchmarks.tllib_step --tllib PATH        # PATH: a TLlib checkout (the folder holding tllib/)
    python -m benchmarks.tllib_step --tllib PATH --quick

Needs ``prettytable`` (TLlib's ``tllib.utils.metric`` imports it); TLlib's gradient reversal layer calls
``np.float``, which NumPy 1.24 removed, so this process defines it as ``float`` (what it was). Exit code 2
without a usable TLlib.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")

import torch
from torch import nn

from benchmarks._report import markdown_table, output_folder, provenance, write_csv
from warmstart._atomic import write_text_atomic
from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.recipe import Recipe, run_recipe
from warmstart.source import Source
from warmstart.tasks import Task, load_task

PAIR = ("mnist5k-a", "mnist5k-b-inverted")
BATCH = 32
#: warmstart's dann on TLlib's network
TLLIB_NETWORK = {"bottleneck": 256, "domain_bn": "joint", "source_augment": "none"}
THEIRS, OURS, DEFAULTS = ("TLlib dann (its network: bottleneck 256, one BN pass)", "warmstart dann on TLlib's network",
                          "warmstart dann at its defaults")


def load_tllib(path: Path) -> types.SimpleNamespace:
    """TLlib's DANN pieces from a checkout, without running ``tllib/__init__`` (it imports numba and more).

    Raises:
        ImportError: the folder holds no ``tllib`` package, or a module it needs is missing.
    """
    root = path / "tllib"
    if not (root / "alignment" / "dann.py").exists():
        raise ImportError(f"{path} is not a TLlib checkout (no tllib/alignment/dann.py)")
    import numpy as np

    if not hasattr(np, "float"):  # TLlib's GRL calls np.float, removed in NumPy 1.24 (an alias of float)
        np.float = float  # type: ignore[attr-defined]
    for name in ("tllib", "tllib.alignment", "tllib.utils"):  # namespace stand-ins: their __init__ is skipped
        module = types.ModuleType(name)
        module.__path__ = [str(path / name.replace(".", "/"))]
        sys.modules.setdefault(name, module)
    from tllib.alignment.dann import DomainAdversarialLoss, ImageClassifier
    from tllib.modules.domain_discriminator import DomainDiscriminator
    from tllib.utils.data import ForeverDataIterator

    return types.SimpleNamespace(ImageClassifier=ImageClassifier, DomainAdversarialLoss=DomainAdversarialLoss,
                                 DomainDiscriminator=DomainDiscriminator, ForeverDataIterator=ForeverDataIterator)


class _Features(nn.Module):
    """The source model's pooled feature extractor, with the ``out_features`` TLlib's classifier reads."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.out_features = int(model.feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)  # type: ignore[no-any-return]


def tllib_seconds(tl: types.SimpleNamespace, ckpt: Path, source: Task, target: Task, steps: int,
                  seed: int) -> float:
    """Seconds per 1,000 steps of TLlib's DANN loop (the example's hyperparameters: lr 0.01, momentum 0.9,
    weight decay 1e-3, lr_gamma 0.001, lr_decay 0.75, trade-off 1)."""
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    model = load_checkpoint(ckpt).model
    classifier = tl.ImageClassifier(_Features(model), target.n_classes, bottleneck_dim=256, pool_layer=nn.Identity())
    discriminator = tl.DomainDiscriminator(in_feature=classifier.features_dim, hidden_size=1024)
    params = classifier.get_parameters() + discriminator.get_parameters()
    optimizer = torch.optim.SGD(params, 0.01, momentum=0.9, weight_decay=1e-3, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda x: 0.01 * (1.0 + 0.001 * float(x)) ** -0.75)
    domain_adv = tl.DomainAdversarialLoss(discriminator)
    assert target.x_unlabeled is not None
    src_it = tl.ForeverDataIterator(DataLoader(TensorDataset(source.x_train, source.y_train), batch_size=BATCH,
                                               shuffle=True, drop_last=True))
    tgt_it = tl.ForeverDataIterator(DataLoader(TensorDataset(target.x_unlabeled), batch_size=BATCH, shuffle=True,
                                               drop_last=True))
    classifier.train()
    domain_adv.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        x_s, labels_s = next(src_it)[:2]
        (x_t,) = next(tgt_it)[:1]
        y, f = classifier(torch.cat((x_s, x_t), dim=0))
        y_s, _ = y.chunk(2, dim=0)
        f_s, f_t = f.chunk(2, dim=0)
        loss = F.cross_entropy(y_s, labels_s) + domain_adv(f_s, f_t) * 1.0
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return 1000.0 * (time.perf_counter() - t0) / steps


def warmstart_seconds(ckpt: Path, source: Task, target: Task, steps: int, seed: int,
                      params: dict[str, Any]) -> float:
    """Seconds per 1,000 steps of warmstart's ``dann`` as the strategy reports them (training only)."""
    src = Source(path=ckpt, task_name=PAIR[0], _task=source)
    recipe = Recipe("dann", {"iterations": steps, "epochs": 1, "batch_size": BATCH, "score_samples": 50,
                             **params}, seed=seed)
    res = run_recipe(target, recipe, validation="none", source=src)
    return float(res.info["seconds_per_1000_steps"])


def _interleaved(arms: dict[str, Callable[[int], float]], repeats: int) -> Iterator[tuple[str, int, float]]:
    for r in range(repeats):
        for name, fn in arms.items():
            yield name, r, fn(r)


def main(argv: list[str] | None = None) -> int:
    """Time both steps; write ``results.csv`` and ``README.md``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tllib", type=Path, default=None, help="a TLlib checkout (the folder holding tllib/)")
    ap.add_argument("--steps", type=int, default=1000, help="training steps a run (default 1000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each side, interleaved (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="20 steps, one repeat (a smoke run)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/tllib_step/)")
    args = ap.parse_args(argv)
    try:
        out = output_folder("tllib_step", args.quick, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    if args.tllib is None:
        ap.error("--tllib: give a TLlib checkout (git clone https://github.com/thuml/Transfer-Learning-Library)")
    try:
        tl = load_tllib(args.tllib)
    except ImportError as exc:
        ap.error(f"--tllib: {exc}")
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be at least 1")
    steps, repeats = (20, 1) if args.quick else (args.steps, args.repeats)
    torch.set_num_threads(args.threads)
    source, target = load_task(PAIR[0]), load_task(PAIR[1]).few_shot(0, seed=0)
    src = Source(task_name=PAIR[0], _task=source)
    ckpt = src.checkpoint(progress=False).path
    arms: dict[str, Callable[[int], float]] = {
        THEIRS: lambda r: tllib_seconds(tl, ckpt, source, target, steps, r),
        OURS: lambda r: warmstart_seconds(ckpt, source, target, steps, r, TLLIB_NETWORK),
        DEFAULTS: lambda r: warmstart_seconds(ckpt, source, target, steps, r, {}),
    }
    runs: list[dict[str, Any]] = []
    per_arm: dict[str, list[float]] = {name: [] for name in arms}
    for name, r, secs in _interleaved(arms, repeats):
        runs.append({"arm": name, "repeat": r, "seconds_per_1000_steps": round(secs, 3)})
        per_arm[name].append(secs)
        print(f"{name:55s} repeat {r}: {secs:.2f} s / 1k steps", file=sys.stderr, flush=True)
    med = {name: statistics.median(v) for name, v in per_arm.items()}
    table = [{"arm": name, "median s / 1k steps": f"{med[name]:.2f}", "runs": ", ".join(f"{x:.2f}" for x in v)}
             for name, v in per_arm.items()]
    ours, theirs = med[OURS], med[THEIRS]
    verdict = (f"warmstart's step on TLlib's network: {ours:.2f} s vs TLlib's {theirs:.2f} s per 1,000 steps "
               f"({ours / theirs:.2f}x): {'no slower' if ours <= theirs * 1.05 else 'SLOWER'} "
               "(within 5 % counts as no slower: the runs' own spread)")
    write_csv(out / "results.csv", runs)
    cmd = "python -m benchmarks.tllib_step " + " ".join(argv)
    write_text_atomic(out / "README.md", "\n".join([
        "# DANN's training step: warmstart against TLlib on the same network", "",
        (__doc__ or "").split("\n\n")[1], "",
        provenance(cmd, list(range(repeats)), notes=f"{steps} steps a run, {args.threads} torch thread(s), "
                   f"pair {PAIR[0]} -> {PAIR[1]}, TLlib from {args.tllib}"), "",
        markdown_table(table), "", verdict, ""]))
    print(verdict, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
