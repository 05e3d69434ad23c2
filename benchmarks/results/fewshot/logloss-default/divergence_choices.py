"""Which source augmentation each few-shot cell's adaptation methods pick under each divergence (no test label read).

Run from the repository root, one process per direction (0: mnist5k→digits, 1: digits→mnist5k)::

    PYTHONPATH=. WARMSTART_THREADS=1 python benchmarks/results/fewshot/logloss-default/divergence_choices.py \
        0 1,5,10 0,1,2 self_training+mcc,mcc,self_training OUT.jsonl

Each method is fitted for one step (``iterations`` 1): the augmentation is chosen before training, from the
source model, the source images and the target pool, so the step count does not change the choice.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")
from benchmarks.domain_adaptation import method_recipe
from benchmarks.fewshot import DIRECTIONS, pretrained_source
from warmstart.engine.device import configure_threads
from warmstart.recipe import Recipe, run_recipe
from warmstart.source import Source
from warmstart.tasks import get_task

configure_threads()
direction, shots, seeds = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
methods, out = sys.argv[4].split(","), Path(sys.argv[5])
src_name, tgt_name = DIRECTIONS[direction]
src = pretrained_source(src_name, Path.home() / ".cache" / "warmstart" / "fewshot-sources", 12)
base = get_task(tgt_name)
for k in map(int, shots):
    for seed in map(int, seeds):
        target = base.few_shot(k, seed=seed)
        for m in methods:
            name, extra = method_recipe(m)
            row: dict = {"direction": f"{src_name}→{tgt_name}", "shots": k, "seed": seed, "method": m}
            for div in ("pad", "logloss"):
                t0 = time.perf_counter()
                kw = {**extra, "iterations": 1, "score_samples": 30, "source_augment_divergence": div}
                res = run_recipe(target, Recipe(name, kw, source=str(src), source_task=src_name, seed=seed),
                                 validation="none", device="cpu", source=Source(path=src, task_name=src_name))
                row[div], row[div + "_s"] = res.info.get("source_augment"), round(time.perf_counter() - t0, 1)
            print(json.dumps(row), flush=True)
            with open(out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
