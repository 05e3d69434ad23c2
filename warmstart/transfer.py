"""One transfer run: (task, source, strategy) → a fitted strategy and its test metrics.

This is the single function that turns a (Task, Recipe) into a Result; the CLI,
the benchmarks and every search call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warmstart.backbones.checkpoint import save_checkpoint
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.strategies._base import Strategy
from warmstart.tasks import Task, load_task


def run_strategy(task: Task, strategy: Strategy, source: Source | None) -> dict[str, Any]:
    """Fit ``strategy`` on ``task`` from ``source`` and report test metrics (labels read only here)."""
    strategy.fit(task, source)
    return {"task": task.name, "strategy": strategy.name, "shots": task.shots,
            "params": strategy.get_params(), "test": strategy.evaluate(task, "test"),
            "info": strategy.info_, "seconds": strategy.fit_seconds_}


def transfer(task: str | Task, strategy: str = "finetune", *, source: str | Path | Source | None = None,
             source_task: str | None = None, shots: int | None = None, seed: int = 0,
             device: str = "auto", params: dict[str, Any] | None = None,
             out: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Evaluate one strategy.

    Args:
        task: Target task (name, path or Task).
        strategy: Registered strategy name.
        source: Checkpoint folder or :class:`Source`.
        source_task: Source task name (for methods that train on source data; pretrained
            first when no checkpoint is given).
        shots: Labels per class in total (few-shot protocol), or None for all.
        seed: Seed for the support set and training.
        device: Torch device.
        params: Strategy hyperparameters.
        out: Save the trained model here (checkpoint folder).
        progress: Show progress bars.

    Returns:
        A JSON-serializable result: task, strategy, shots, params, test metrics, info, seconds.
    """
    target = load_task(task) if not isinstance(task, Task) else task
    if shots is not None:
        target = target.few_shot(shots, seed=seed)
    src = source if isinstance(source, Source) else Source.from_options(source, source_task, seed=seed,
                                                                        device=device)
    kw: dict[str, Any] = {"seed": seed, "device": device, "progress": progress, **(params or {})}
    strat = get_strategy(strategy, **kw)
    result = run_strategy(target, strat, src)
    if out is not None:
        save_checkpoint(strat.model_, out, classes=target.classes, source_task=target.name,
                        metrics={"test": result["test"]},
                        extra={"strategy": strategy, "params": result["params"], "info": result["info"]})
        result["checkpoint"] = str(out)
    return result
