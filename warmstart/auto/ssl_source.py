"""A self-supervised source for auto: SimCLR on the target's own images (labels unused) plus the source tasks'.

With ``auto(..., ssl_source=True)`` (CLI ``--ssl-source``) auto pretrains a SimCLR encoder
(:func:`warmstart.pretraining.simclr.pretrain_simclr`, Chen et al., ICML 2020, at its
measured defaults) on the target's training images (the support set, labels never read) and
unlabelled pool, plus the training images of every source task of the same image shape. The
target's test split is never used. The encoder is then one more candidate source, ranked
with the others by LogME/LEEP or the label-free gap, so the search uses it only where it
scores well. It is cached under ``$WARMSTART_CACHE/ssl`` keyed by the images and settings;
under a time budget it gets the pretraining share of the clock like any task-only source,
and a pretraining cut short by the budget is cached under its own key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from typing import Any

from torch import Tensor

from warmstart._paths import cache_dir
from warmstart.auto.clock import Clock
from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.source import Source
from warmstart.tasks._task import Task


def ssl_candidate(target: Task, source_tasks: list[Task], clock: Clock, *, seed: int = 0, device: str = "auto",
                  progress: bool = True) -> tuple[tuple[str, Source] | None, str]:
    """The SimCLR source for ``target`` (trained or read from the cache) and one note for the report.

    Returns ``(None, why)`` when the target is not an in-memory image task.
    """
    from warmstart.engine.callbacks import extra_callbacks
    from warmstart.engine.config import TrainConfig
    from warmstart.engine.feature_cache import data_fingerprint
    from warmstart.pretraining.simclr import DEFAULT_CONFIG, pretrain_simclr
    from warmstart.search.budget import DeadlineStop

    if target.modality != "image" or not isinstance(target.x_train, Tensor):
        return None, f"--ssl-source: task {target.name!r} is not an in-memory image task; no self-supervised source"
    shape = tuple(target.input_shape)
    tasks = [target]  # pretrain_simclr reads only x_train and the pool: no label, no test image
    tasks += [t for t in source_tasks if t.modality == "image" and tuple(t.input_shape) == shape
              and isinstance(t.x_train, Tensor)]
    cfg = TrainConfig(epochs=DEFAULT_CONFIG.epochs, batch_size=DEFAULT_CONFIG.batch_size, lr=DEFAULT_CONFIG.lr,
                      seed=seed, device=device, progress=progress)
    parts = [f"{data_fingerprint(t.x_train)}|{data_fingerprint(t.x_unlabeled) if t.has_unlabeled else '-'}"
             for t in tasks]
    key = "simclr|" + "|".join(parts) + f"|{cfg.epochs}|{seed}"
    out = cache_dir() / "ssl" / hashlib.sha256(key.encode()).hexdigest()[:16]
    names = "+".join(t.name for t in tasks)
    name = f"simclr:{names}"
    if (out / "meta.json").exists():
        try:
            load_checkpoint(out)
            note = f"self-supervised source {name}: a cached pretraining was reused"
            return (name, Source(path=out, spec=name)), note
        except Exception:  # a corrupt cache entry is rebuilt
            pass
    with clock.phase("pretraining"):
        deadline = clock.pretrain_deadline(1)
        stop = DeadlineStop(deadline) if deadline is not None else None
        part = out.with_name(f"{out.name}.part-{os.getpid()}")
        shutil.rmtree(part, ignore_errors=True)
        print(f"pretraining a self-supervised source (SimCLR) on {names} images, labels unused...", file=sys.stderr,
              flush=True)
        t0 = clock.elapsed()
        cbs: list[Any] = [stop] if stop is not None else []
        with extra_callbacks(*cbs):
            pretrain_simclr(tasks, part, config=cfg)
        seconds = clock.elapsed() - t0
    if stop is not None and stop.stopped_at_step is not None:  # cut short: its own cache entry
        out = out.with_name(out.name + f"-stopped-{stop.stopped_at_step}")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(part, out)
    cut = " (stopped by the budget)" if stop is not None and stop.stopped_at_step is not None else ""
    return (name, Source(path=out, spec=name)), (f"self-supervised source {name}: SimCLR pretrained in "
                                                 f"{seconds:.0f} s{cut}, labels unused, test split never used")
