"""warmstart: start every new deep-learning task from what earlier tasks learned.

The public API, re-exported from the subpackages.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from warmstart._version import __version__

# Every name is imported on first use, so ``import warmstart`` (and the CLI's ``--help``) loads
# neither torch nor Optuna.
_LAZY = {
    "Checkpoint": ("warmstart.backbones", "Checkpoint"),
    "Classifier": ("warmstart.backbones", "Classifier"),
    "create_backbone": ("warmstart.backbones", "create_backbone"),
    "list_backbones": ("warmstart.backbones", "list_backbones"),
    "load_checkpoint": ("warmstart.backbones", "load_checkpoint"),
    "save_checkpoint": ("warmstart.backbones", "save_checkpoint"),
    "TrainConfig": ("warmstart.engine", "TrainConfig"),
    "evaluate": ("warmstart.engine", "evaluate"),
    "fit": ("warmstart.engine", "fit"),
    "WarmstartError": ("warmstart.errors", "WarmstartError"),
    "pretrain_supervised": ("warmstart.pretraining", "pretrain_supervised"),
    "Recipe": ("warmstart.recipe", "Recipe"),
    "Result": ("warmstart.recipe", "Result"),
    "run_recipe": ("warmstart.recipe", "run_recipe"),
    "plan_validation": ("warmstart.validation", "plan_validation"),
    "embed": ("warmstart.engine", "embed"),
    "Source": ("warmstart.source", "Source"),
    "Strategy": ("warmstart.strategies", "Strategy"),
    "get_strategy": ("warmstart.strategies", "get_strategy"),
    "list_strategies": ("warmstart.strategies", "list_strategies"),
    "Task": ("warmstart.tasks", "Task"),
    "get_task": ("warmstart.tasks", "get_task"),
    "list_tasks": ("warmstart.tasks", "list_tasks"),
    "load_task": ("warmstart.tasks", "load_task"),
    "transfer": ("warmstart.transfer", "transfer"),
    "auto": ("warmstart.auto", "auto"),
    "tune": ("warmstart.search.runner", "tune"),
    "search_architecture": ("warmstart.search.nas", "search_architecture"),
    "export_model": ("warmstart.export", "export_model"),
    "predict_files": ("warmstart.export", "predict_files"),
    "write_report": ("warmstart.report", "write_report"),
}

if TYPE_CHECKING:
    from warmstart.auto import auto
    from warmstart.backbones import (
        Checkpoint,
        Classifier,
        create_backbone,
        list_backbones,
        load_checkpoint,
        save_checkpoint,
    )
    from warmstart.engine import TrainConfig, embed, evaluate, fit
    from warmstart.errors import WarmstartError
    from warmstart.export import export_model, predict_files
    from warmstart.pretraining import pretrain_supervised
    from warmstart.recipe import Recipe, Result, run_recipe
    from warmstart.report import write_report
    from warmstart.search.nas import search_architecture
    from warmstart.search.runner import tune
    from warmstart.source import Source
    from warmstart.strategies import Strategy, get_strategy, list_strategies
    from warmstart.tasks import Task, get_task, list_tasks, load_task
    from warmstart.transfer import transfer
    from warmstart.validation import plan_validation


def __getattr__(name: str) -> object:
    """Import a public name (or a subpackage, ``warmstart.tasks``) on first use."""
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'warmstart' has no attribute {name!r}")


class _PublicAPI(types.ModuleType):
    """The package module: a public function keeps its name when its same-named submodule is imported.

    Importing ``warmstart.transfer`` (the module) makes Python bind it as the package's
    ``transfer`` attribute; the public API's ``warmstart.transfer`` is the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY and value.__name__ == _LAZY[name][0]:
            value = getattr(value, _LAZY[name][1])
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PublicAPI


__all__ = [
    "Checkpoint",
    "Classifier",
    "Recipe",
    "Result",
    "Source",
    "Strategy",
    "Task",
    "TrainConfig",
    "WarmstartError",
    "__version__",
    "auto",
    "create_backbone",
    "embed",
    "evaluate",
    "export_model",
    "fit",
    "get_strategy",
    "get_task",
    "list_backbones",
    "list_strategies",
    "list_tasks",
    "load_checkpoint",
    "load_task",
    "plan_validation",
    "predict_files",
    "pretrain_supervised",
    "run_recipe",
    "save_checkpoint",
    "search_architecture",
    "transfer",
    "tune",
    "write_report",
]
