"""warmstart: start every new deep-learning task from what earlier tasks learned.

The public API, re-exported from the subpackages.
"""

from warmstart._version import __version__
from warmstart.backbones import (
    Checkpoint,
    Classifier,
    create_backbone,
    list_backbones,
    load_checkpoint,
    save_checkpoint,
)
from warmstart.engine import TrainConfig, evaluate, fit
from warmstart.errors import WarmstartError
from warmstart.pretraining import pretrain_supervised
from warmstart.source import Source
from warmstart.strategies import Strategy, get_strategy, list_strategies
from warmstart.tasks import Task, get_task, list_tasks, load_task
from warmstart.transfer import transfer

_LAZY = {
    "auto": ("warmstart.auto", "auto"),
    "tune": ("warmstart.search.runner", "tune"),
    "search_architecture": ("warmstart.search.nas", "search_architecture"),
    "export_model": ("warmstart.export", "export_model"),
    "predict_files": ("warmstart.export", "predict_files"),
    "write_report": ("warmstart.report", "write_report"),
}


def __getattr__(name: str) -> object:
    """Import the heavier entry points (Optuna, ONNX, matplotlib) on first use."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'warmstart' has no attribute {name!r}")


__all__ = [
    "Checkpoint",
    "Classifier",
    "Source",
    "Strategy",
    "Task",
    "TrainConfig",
    "WarmstartError",
    "__version__",
    "auto",
    "create_backbone",
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
    "predict_files",
    "pretrain_supervised",
    "save_checkpoint",
    "search_architecture",
    "transfer",
    "tune",
    "write_report",
]
