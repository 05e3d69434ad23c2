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

__all__ = [
    "Checkpoint",
    "Classifier",
    "Source",
    "Strategy",
    "Task",
    "TrainConfig",
    "WarmstartError",
    "__version__",
    "create_backbone",
    "evaluate",
    "fit",
    "get_strategy",
    "get_task",
    "list_backbones",
    "list_strategies",
    "list_tasks",
    "load_checkpoint",
    "load_task",
    "pretrain_supervised",
    "save_checkpoint",
    "transfer",
]
