"""The Strategy contract (scikit-learn's estimator contract, adapted to tasks).

* The constructor takes keyword-only hyperparameters, validates them against the
  declared :class:`~warmstart.strategies._params.Param` table, and only stores them.
* ``fit(task, source=None)`` does the work and returns ``self``; learned state
  ends in ``_`` (``model_``, ``history_``, ``info_``).
* ``predict_proba``, ``predict``, ``score``; ``get_params``/``set_params`` expose
  the hyperparameters so one generic search can tune any strategy.
"""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

import torch
from torch import Tensor

from warmstart.backbones.input_stats import model_inputs
from warmstart.engine.config import TrainConfig
from warmstart.engine.evaluate import classification_metrics, predict_proba
from warmstart.engine.trainer import History
from warmstart.errors import ConfigError
from warmstart.strategies._params import COMMON_PARAMS, Param
from warmstart.tasks._task import Task


class Strategy(abc.ABC):
    """Base class of every transfer strategy.

    Subclasses set ``name``, ``paper`` (citation), ``params`` (their own
    :class:`Param` table, merged over :data:`COMMON_PARAMS`) and implement
    :meth:`_fit`, which must set ``self.model_`` (a module returning logits) and
    may replace ``self.history_`` (a :class:`~warmstart.engine.trainer.History`, the same shape
    for every strategy) and add to ``self.info_``.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    needs_source: ClassVar[bool] = False  # a pretrained checkpoint
    needs_source_task: ClassVar[bool] = False  # source data
    needs_unlabeled: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = True  # labelled target examples (False: trains on source labels only)
    #: starts from the source's model (False: only borrows its architecture, as ``scratch`` does)
    starts_from_source: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        table = self.param_table()
        unknown = sorted(set(params) - set(table))
        if unknown:
            raise ConfigError(
                f"strategy {self.name!r} has no option {unknown[0]!r}; valid options: {', '.join(sorted(table))}"
            )
        values = {k: p.default for k, p in table.items()}
        values.update({k: table[k].check(k, v) for k, v in params.items()})
        self._params = values

    @classmethod
    def param_table(cls) -> dict[str, Param]:
        """All declared hyperparameters: the common ones overridden by the strategy's."""
        return {**COMMON_PARAMS, **cls.params}

    def get_params(self) -> dict[str, Any]:
        """Current hyperparameter values."""
        return dict(self._params)

    def set_params(self, **params: Any) -> Strategy:
        """Set hyperparameters (validated); return self."""
        table = self.param_table()
        for k, v in params.items():
            if k not in table:
                raise ConfigError(f"strategy {self.name!r} has no option {k!r}; valid: {', '.join(sorted(table))}")
            self._params[k] = table[k].check(k, v)
        return self

    def __getattr__(self, item: str) -> Any:
        params = self.__dict__.get("_params", {})
        if item in params:
            return params[item]
        raise AttributeError(item)

    def __repr__(self) -> str:
        table = self.param_table()
        changed = {k: v for k, v in self._params.items() if v != table[k].default}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def train_config(self, **overrides: Any) -> TrainConfig:
        """A :class:`TrainConfig` from the common hyperparameters (plus overrides)."""
        p = self._params
        kw = {k: p[k] for k in ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing",
                                 "augment", "min_steps", "seed", "device", "progress")}
        kw.update(overrides)
        return TrainConfig(**kw)

    # ------------------------------------------------------------------ contract
    def fit(self, task: Task, source: Any = None) -> Strategy:
        """Train on ``task`` (its labelled train split and, if any, unlabelled pool).

        A tabular task is first moved into the standardization of the source's model
        (:meth:`~warmstart.tasks.Task.in_scale`, :meth:`~warmstart.source.Source.input_scaler`)
        when the strategy starts from it: the model keeps taking rows as its table's train split
        standardized them, as an image model keeps its pretrained normalization. The fitted model
        records that standardization (``model_.input_spec.scaler``); :meth:`evaluate` and
        :meth:`task_inputs` move a task's rows into it.

        Args:
            task: The target task. Under the few-shot protocol it carries only the
                support labels; its test labels are never read here.
            source: A :class:`warmstart.source.Source` (checkpoint and/or source task), or None.

        Returns:
            self, with ``model_``, ``history_``, ``info_`` and ``fit_seconds_`` set.

        Raises:
            ConfigError: the strategy needs target labels (``needs_labels``) and the task's
                training split has none (``--shots 0``); checked before any work.
        """
        self._check_labels(task)
        self.info_: dict[str, Any] = {"strategy": self.name}
        if self.starts_from_source and task.scaler is not None and hasattr(source, "input_scaler"):
            moved = task.in_scale(source.input_scaler(self.progress), "the source's table")
            if moved is not task:
                self.info_["standardized"] = "the target's rows as the source's table standardized them"
            task = moved
        self.history_: History = History()  # one shape for every strategy: per-epoch logs
        self.task_classes_ = list(task.classes)
        t0 = time.perf_counter()
        self._fit(task, source)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _check_labels(self, task: Task) -> None:
        if not self.needs_labels or (task.y_train is not None and len(task.y_train) > 0):
            return
        from warmstart.strategies._registry import _REGISTRY  # the registry imports this module

        label_free = sorted(name for name, cls in _REGISTRY.items() if not cls.needs_labels)
        why = "(--shots 0)" if task.shots == 0 else "(its training split has no labels)"
        raise ConfigError(f"strategy {self.name!r} needs labelled target examples and the task has none {why}; "
                          f"strategies that train without target labels: {', '.join(label_free)}")

    @abc.abstractmethod
    def _fit(self, task: Task, source: Any) -> None:
        """Do the training; set ``self.model_``."""

    def predict_proba(self, x: Any) -> Tensor:
        """Class probabilities (N×K) for inputs ``x`` (tabular rows in the model's standardization: see
        :meth:`task_inputs`)."""
        self._check_fitted()
        return predict_proba(self.model_, x, device=self._device())

    def predict(self, x: Any) -> Tensor:
        """Predicted class indices for inputs ``x``."""
        return self.predict_proba(x).argmax(1)

    def score(self, x: Any, y: Tensor) -> float:
        """Accuracy on (x, y)."""
        return float((self.predict(x) == y.cpu()).float().mean())

    def task_inputs(self, task: Task, x: Any) -> Any:
        """``x``, inputs of ``task`` (in its standardization), as the fitted model takes them."""
        self._check_fitted()
        return model_inputs(self.model_, task, x)

    def evaluate(self, task: Task, split: str = "test") -> dict[str, float]:
        """Metrics on one of the task's labelled splits (``test`` by default; reporting only)."""
        x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
        if x is None or y is None:
            raise ConfigError(f"task {task.name!r} has no labelled {split} split")
        return classification_metrics(self.predict_proba(self.task_inputs(task, x)), y)

    def _device(self) -> torch.device:
        try:
            return next(self.model_.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ConfigError(f"strategy {self.name!r} is not fitted; call fit(task, source) first")
