"""Experiment tracking: per-epoch training logs and study trials to MLflow or TensorBoard.

Both go through the libraries' own loggers (``pip install "warmstart[track]"``):

* ``mlflow``: :func:`mlflow.log_metrics`. The tracking URI is ``sqlite:///<out_dir>/mlflow.db``
  when ``out_dir`` is given, else ``$MLFLOW_TRACKING_URI`` when set, else
  ``sqlite:///./mlruns/mlflow.db`` (MLflow's file store is in maintenance mode; a SQLite file in
  the ``mlruns`` folder is its recommended local backend). Runs go to the experiment
  ``warmstart``.
* ``tensorboard``: :class:`torch.utils.tensorboard.SummaryWriter` writing to
  ``<out_dir>/<run_name>`` (default ``./runs/<run_name>``).

A tracker is an engine :class:`~warmstart.engine.callbacks.Callback`; put it around any training
with :func:`~warmstart.engine.callbacks.extra_callbacks` and close it afterwards::

    with make_tracker("mlflow", "transfer-digits") as tracker, extra_callbacks(tracker):
        result = run_recipe(task, recipe)

Every numeric value of an epoch's logs (``train_loss``, ``lr``, ``seconds``, ``val_*``) is logged
at that epoch. Several trainings inside one tracker (folds, pretraining, trials) continue the step
count of the run they log to, so their curves follow each other. When an MLflow run is already
active (e.g. the trial's run opened by :func:`track_objective`), the epochs go to that run, with
steps counted per run; otherwise the tracker opens its own run on the first training and ends it
in :meth:`close`.

For studies, :func:`study_callbacks` gives the callbacks to pass to ``study.optimize``: Optuna's
own :class:`optuna_integration.MLflowCallback` (one MLflow run per trial, with its parameters and
value), or for TensorBoard a small callback writing each finished trial's value (Optuna's
TensorBoard callback needs TensorFlow and is deprecated).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from warmstart.engine.callbacks import Callback
from warmstart.errors import ConfigError

TRACKERS = ("mlflow", "tensorboard")
EXPERIMENT = "warmstart"
_EXTRA = 'pip install "warmstart[track]"'


def _check_kind(kind: str) -> None:
    if kind not in TRACKERS:
        raise ConfigError(f"unknown tracker {kind!r}; valid trackers: {', '.join(TRACKERS)}")


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ConfigError(f"--track mlflow needs MLflow: {_EXTRA}") from None
    return mlflow


def _summary_writer(log_dir: Path) -> Any:
    try:
        import tensorboard  # noqa: F401  (SummaryWriter needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"--track tensorboard needs TensorBoard: {_EXTRA}") from None
    return SummaryWriter(log_dir=str(log_dir))


def mlflow_tracking_uri(out_dir: str | Path | None = None) -> str:
    """The MLflow tracking URI a tracker uses (see the module docstring); creates the local folder."""
    if out_dir is None and os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder = Path("mlruns" if out_dir is None else out_dir).expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the tracking folder {folder}: {exc}") from None
    return f"sqlite:///{folder / 'mlflow.db'}"


def numeric_logs(logs: dict[str, Any]) -> dict[str, float]:
    """The finite numeric values of an epoch's logs, without the ``epoch`` counter itself."""
    out = {}
    for k, v in logs.items():
        if k == "epoch" or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if math.isfinite(v):
            out[k] = float(v)
    return out


class Tracker(Callback):
    """Base of the trackers: step bookkeeping per run, context-manager closing.

    Subclasses implement :meth:`_run_key` (which run an epoch goes to), :meth:`_log` and
    :meth:`close`.
    """

    def __init__(self, run_name: str) -> None:
        self.run_name = run_name
        self._logged: dict[str, int] = {}  # steps logged so far, per run
        self._offset = 0
        self._key = ""

    def _run_key(self) -> str:
        raise NotImplementedError

    def _log(self, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def close(self, failed: bool = False) -> None:
        """Finish the tracker's own run (status FAILED when ``failed``) and flush; idempotent."""

    def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
        self._key = self._run_key()
        self._offset = self._logged.get(self._key, 0)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        metrics = numeric_logs(logs)
        if not metrics:
            return
        step = self._offset + epoch
        self._log(metrics, step)
        self._logged[self._key] = max(self._logged.get(self._key, 0), step)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.close(failed=exc_type is not None)


class MLflowTracker(Tracker):
    """Log every epoch with :func:`mlflow.log_metrics` into the active MLflow run.

    The tracker starts its own run (named ``run_name``, in the experiment ``experiment``) when it
    is built, and ends it in :meth:`close`; this sets MLflow's tracking URI and experiment for the
    process. Runs opened inside it (the per-trial runs of :func:`study_callbacks`, nested) receive
    the epochs of the trainings that run while they are active.

    Attributes:
        tracking_uri: Where the runs are stored.
        run_id: The tracker's own run.
    """

    def __init__(self, run_name: str, out_dir: str | Path | None = None, experiment: str = EXPERIMENT) -> None:
        super().__init__(run_name)
        mlflow = self._mlflow = _import_mlflow()
        self.tracking_uri = mlflow_tracking_uri(out_dir)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_experiment(experiment)
        self.run_id: str = mlflow.start_run(run_name=run_name, nested=mlflow.active_run() is not None).info.run_id
        self._open = True

    def _run_key(self) -> str:
        active = self._mlflow.active_run()
        return str(active.info.run_id) if active is not None else ""

    def _log(self, metrics: dict[str, float], step: int) -> None:
        if self._mlflow.active_run() is not None:
            self._mlflow.log_metrics(metrics, step=step)

    def close(self, failed: bool = False) -> None:
        if not self._open:
            return
        self._open = False
        active = self._mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            self._mlflow.end_run("FAILED" if failed else "FINISHED")
        else:  # someone else's run is active: end ours without touching theirs
            self._mlflow.MlflowClient(self.tracking_uri).set_terminated(self.run_id,
                                                                         "FAILED" if failed else "FINISHED")


class TensorBoardTracker(Tracker):
    """Log every epoch with :meth:`SummaryWriter.add_scalar` (tags are the log keys).

    Attributes:
        log_dir: The run's folder (``<out_dir>/<run_name>``).
    """

    def __init__(self, run_name: str, out_dir: str | Path | None = None) -> None:
        super().__init__(run_name)
        self.log_dir = Path("runs" if out_dir is None else out_dir).expanduser().resolve() / run_name
        self._writer = _summary_writer(self.log_dir)

    def _run_key(self) -> str:
        return str(self.log_dir)

    def _log(self, metrics: dict[str, float], step: int) -> None:
        for k, v in metrics.items():
            self._writer.add_scalar(k, v, global_step=step)
        self._writer.flush()

    def close(self, failed: bool = False) -> None:
        self._writer.close()


def make_tracker(kind: str, run_name: str, out_dir: str | Path | None = None) -> Tracker:
    """A training callback that logs each epoch's numeric logs to ``mlflow`` or ``tensorboard``.

    Args:
        kind: ``mlflow`` or ``tensorboard``.
        run_name: Name of the run (MLflow run name; TensorBoard sub-folder).
        out_dir: Where to write: the MLflow SQLite folder / the TensorBoard root (module docstring).

    Returns:
        The tracker; use it in ``extra_callbacks(tracker)`` and close it (or use it as a context
        manager) when done.

    Raises:
        ConfigError: unknown kind, or the ``track`` extra is not installed.
    """
    _check_kind(kind)
    if kind == "mlflow":
        return MLflowTracker(run_name, out_dir)
    return TensorBoardTracker(run_name, out_dir)


class TrialValueWriter:
    """Optuna study callback: each finished trial's value (and numeric parameters) to TensorBoard.

    Written under ``trial/value`` and ``params/<name>`` at step = trial number, in ``log_dir``.
    """

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self._writer = _summary_writer(self.log_dir)

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        if trial.state != TrialState.COMPLETE or trial.value is None:
            return
        self._writer.add_scalar("trial/value", float(trial.value), global_step=trial.number)
        for k, v in trial.params.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self._writer.add_scalar(f"params/{k}", float(v), global_step=trial.number)
        self._writer.flush()

    def close(self) -> None:
        """Close the event file."""
        self._writer.close()


def study_callbacks(track: str | None, run_name: str = "study", out_dir: str | Path | None = None,
                    metric_name: str = "score") -> list[Callable[[Any, Any], None]]:
    """The callbacks to pass to ``study.optimize(..., callbacks=...)`` for ``--track``.

    * ``None``: none.
    * ``mlflow``: :class:`optuna_integration.MLflowCallback` — one nested MLflow run per trial
      (run name = trial number) with the trial's parameters, value (as ``metric_name``) and user
      attributes as tags, in the experiment ``warmstart`` at :func:`mlflow_tracking_uri`. Wrap
      the objective with :func:`track_objective` so the trial's per-epoch logs land in its run.
    * ``tensorboard``: a :class:`TrialValueWriter` on ``<out_dir>/<run_name>/trials``.

    Raises:
        ConfigError: unknown kind, or the ``track`` extra is not installed.
    """
    if track is None:
        return []
    _check_kind(track)
    if track == "tensorboard":
        root = Path("runs" if out_dir is None else out_dir).expanduser().resolve()
        return [TrialValueWriter(root / run_name / "trials")]
    mlflow = _import_mlflow()
    try:
        from optuna_integration import MLflowCallback
    except ImportError:
        raise ConfigError(f"--track mlflow for studies needs optuna-integration: {_EXTRA}") from None
    uri = mlflow_tracking_uri(out_dir)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(EXPERIMENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning
        cb = MLflowCallback(tracking_uri=uri, metric_name=metric_name, create_experiment=False,
                            mlflow_kwargs={"nested": True})
    return [cb]


def track_objective(callbacks: list[Callable[[Any, Any], None]], objective: Callable[[Any], Any]
                    ) -> Callable[[Any], Any]:
    """Wrap a study objective so each trial runs inside its MLflow run (when ``callbacks`` has one).

    With Optuna's MLflow callback, the trial's run is opened before the objective runs, so a
    :class:`MLflowTracker` (or any ``mlflow.log_*``) inside the objective logs into the trial's
    run; the callback then adds the parameters and value to the same run. Other callbacks leave
    the objective as it is.
    """
    for cb in callbacks:
        if type(cb).__name__ == "MLflowCallback" and hasattr(cb, "track_in_mlflow"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cb.track_in_mlflow()(objective)
    return objective
