"""One transfer run from the command line or the API: a Recipe built from options, run once.

:func:`transfer` builds a :class:`~warmstart.recipe.Recipe` from its arguments and calls
:func:`~warmstart.recipe.run_recipe` with ``validation="none"`` (a final fit on every label
the few-shot protocol leaves); it only adds saving the model. The one path from (Task, Recipe)
to a Result is :mod:`warmstart.recipe`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from warmstart.recipe import Recipe, Result, run_recipe
from warmstart.source import Source
from warmstart.tasks import Task, load_task


def result_summary(result: Result) -> dict[str, Any]:
    """The JSON-serializable dict ``transfer`` returns (and ``--json`` prints) for a Result."""
    strat = result.strategy
    return {"task": result.task, "strategy": result.recipe.strategy, "shots": result.recipe.shots,
            "params": strat.get_params() if strat is not None else dict(result.recipe.params),
            "test": result.test, "info": result.info, "seconds": result.seconds,
            "recipe": result.recipe.to_json(), "notes": result.notes}


def transfer(task: str | Task, strategy: str = "finetune", *, source: str | Path | Source | None = None,
             source_task: str | None = None, shots: int | None = None, seed: int = 0,
             device: str = "auto", params: dict[str, Any] | None = None,
             out: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Evaluate one strategy: fit on the (few-shot) training labels, report test metrics.

    Args:
        task: Target task (name, path or Task).
        strategy: Registered strategy name.
        source: Checkpoint folder, zoo name or :class:`Source` (its ``spec``, when set, is how the
            recipe and the report name it).
        source_task: Source task name (for methods that train on source data; pretrained
            first when no checkpoint is given).
        shots: Labels per class in total (few-shot protocol), or None for all.
        seed: Seed for the support set and training.
        device: Torch device.
        params: Strategy hyperparameters.
        out: Save the trained model here (checkpoint folder, written atomically).
        progress: Show progress bars.

    Returns:
        A JSON-serializable result: task, strategy, shots, params, test metrics, info, seconds,
        the recipe, notes (and ``checkpoint`` when saved).

    Raises:
        WarmstartError: a bad name, option, file or source/target combination (one clear line).
    """
    target = load_task(task) if not isinstance(task, Task) else task
    src: Source | None
    weights = source_spec = None
    if isinstance(source, Source):
        src = source
        if source_task is not None and src.task_name is None:  # a checkpoint given apart from its data
            src = dataclasses.replace(src, task_name=source_task, seed=seed, device=device)
        source_path = str(src.path) if src.path is not None else src.zoo
        weights, source_spec = src.weights, src.spec
        source_task = src.task_name
    else:
        source_path = None if source is None else str(source)
        src = Source.from_options(source, source_task, seed=seed, device=device)
    recipe = Recipe(strategy, dict(params or {}), source=source_path, weights=weights, source_task=source_task,
                    source_spec=source_spec, shots=shots, seed=seed)
    result = run_recipe(target, recipe, validation="none", source=src, device=device, progress=progress)
    summary = result_summary(result)
    if out is not None:
        from warmstart.backbones.checkpoint import save_checkpoint

        save_checkpoint(result.model, out, classes=target.classes, source_task=target.name,
                        metrics={"test": result.test},
                        extra={"strategy": strategy, "params": summary["params"], "info": summary["info"],
                               "recipe": recipe.to_json()})
        summary["checkpoint"] = str(out)
    return summary
