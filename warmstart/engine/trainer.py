"""The training loop every strategy and search trial goes through.

In-memory data (tensors, lists of strings) is batched by index with a seeded
permutation, with no DataLoader workers; streaming datasets (large image
folders) go through a DataLoader. AdamW or SGD, warm-up then cosine schedule
per step, label smoothing, tensor augmentations, gradient clipping, a
divergence check, per-epoch callbacks (early stopping, pruning), best-weights
restore on the monitored validation metric, and a rich progress bar. A callback
may shorten the schedule while the run goes (:meth:`~warmstart.engine.callbacks.Callback.horizon`:
a fit that a deadline would cut, :mod:`warmstart.engine.horizon`); the schedule and
:attr:`StepInfo.progress` then span the shortened run, which ends where its schedule does.

Image batches are augmented (``config.augment``) whether they come from memory or
stream from disk (after collation, on the batch tensor). On CUDA, training runs in
mixed precision (bf16 autocast where supported, else fp16 with a gradient scaler),
unless ``config.amp`` turns it off (ignored on CPU). A model with 2-D convolutions
trains in channels-last memory format on every device, unless ``config.channels_last``
turns it off: on CPU (oneDNN) a step of the small CNN, the ResNet backbone and timm's
EfficientNet-Lite0 took 1.3–1.8x less time in it, timm's ResNet-18 about the same
(``benchmarks/results/memory_format``).
Validation runs in float32.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.engine.augment import augment_images
from warmstart.engine.callbacks import Callback, EarlyStopping, StopTraining, ambient_callbacks
from warmstart.engine.config import TrainConfig
from warmstart.engine.device import configure_threads, resolve_device
from warmstart.engine.evaluate import classification_metrics, predict_proba
from warmstart.engine.progress import progress_bar
from warmstart.errors import TrainingDivergedError
from warmstart.tasks._task import n_items, take


@dataclass
class StepInfo:
    """Where a training step is: epoch, global step, and progress in [0, 1].

    ``total_steps`` is the steps the schedule spans: the run's planned steps, or fewer once a callback
    shortened it (:meth:`~warmstart.engine.callbacks.Callback.horizon`).
    """

    epoch: int
    step: int
    total_steps: int
    generator: torch.Generator
    device: torch.device

    @property
    def progress(self) -> float:
        """Fraction of the schedule's steps done before this one."""
        return self.step / max(1, self.total_steps)


StepFn = Callable[[nn.Module, Any, Tensor, StepInfo], Tensor]
ValFn = Callable[[nn.Module], dict[str, float]]


@dataclass
class History:
    """What happened during training."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: str | None = None
    seconds: float = 0.0
    steps: int = 0

    def curve(self, key: str) -> list[float]:
        """Values of one logged quantity, epoch by epoch (missing epochs skipped)."""
        return [e[key] for e in self.epochs if key in e]


def cross_entropy_step(label_smoothing: float = 0.0) -> StepFn:
    """The default step: cross-entropy of the model's logits."""

    def step(model: nn.Module, xb: Any, yb: Tensor, info: StepInfo) -> Tensor:
        return F.cross_entropy(model(xb), yb, label_smoothing=label_smoothing)

    return step


def make_optimizer(groups: Sequence[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or SGD over parameter groups (each may carry its own ``lr``)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(list(groups), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    return torch.optim.AdamW(list(groups), lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(step: int, total_steps: int, warmup: int, schedule: str) -> float:
    """Multiplier of each group's base learning rate at a step of ``total_steps``: warm-up, then cosine or
    constant."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


class Trainer:
    """Trains a model on (x, y) with a :class:`TrainConfig`.

    Args:
        model: Module mapping a batch of inputs to logits (or whatever ``step_fn`` uses).
        config: Training settings.
        param_groups: Optimizer groups (``{"params": [...], "lr": ...}``); default all
            trainable parameters at ``config.lr``.
        step_fn: Computes the loss of one batch; default cross-entropy with label smoothing.
        callbacks: Per-epoch hooks; ``EarlyStopping`` is added when ``config.patience`` is set.
        monitor: Logged metric that selects the best epoch (weights restored at the end).
        mode: ``max`` or ``min`` for ``monitor``.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, *,
                 param_groups: Sequence[dict[str, Any]] | None = None, step_fn: StepFn | None = None,
                 callbacks: Sequence[Callback] = (), monitor: str = "val_accuracy",
                 mode: str = "max") -> None:
        configure_threads()
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        cuda = self.device.type == "cuda"
        # channels-last memory for convolutional models (any device); CUDA only: mixed precision (bf16 when
        # supported, else fp16 + scaler)
        self.channels_last = config.channels_last and any(isinstance(m, nn.Conv2d) for m in self.model.modules())
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.amp_dtype: torch.dtype | None = None
        if cuda and config.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        groups = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}]
        self.optimizer = make_optimizer(groups, config)
        self.step_fn = step_fn or cross_entropy_step(config.label_smoothing)
        self.callbacks = list(callbacks) + list(ambient_callbacks())
        if config.patience:
            self.callbacks.append(EarlyStopping(monitor, config.patience, mode))
        self.monitor, self.mode = monitor, mode
        self.generator = torch.Generator().manual_seed(config.seed)
        self.aug_generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.start_epoch = 0
        self.global_step = 0
        self.horizon = 0  # steps the current run's schedule spans (set by fit; callbacks may shorten it)
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        # progress of the current run; kept on the trainer so state_dict() can save it mid-run
        self.history = History()
        self.best_state: dict[str, Tensor] | None = None

    # ----------------------------------------------------------------- batching
    def _batches(self, x: Any, y: Tensor | None) -> Iterator[tuple[Any, Tensor]]:
        bs = self.config.batch_size
        n = n_items(x)
        if not isinstance(x, (Tensor, list)):  # streaming dataset
            loader = torch.utils.data.DataLoader(x, batch_size=bs, shuffle=True, generator=self.generator,
                                                 num_workers=0, drop_last=n > bs and n % bs == 1)
            for xb, yb in loader:
                yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            return
        assert y is not None
        perm = torch.randperm(n, generator=self.generator)
        stop = n - 1 if (n > bs and n % bs == 1) else n  # no batch of one (batch norm)
        for start in range(0, stop, bs):
            idx = perm[start:start + bs]
            xb = take(x, idx)
            if isinstance(xb, Tensor):
                xb = xb.to(self.device, non_blocking=True)
            yield xb, y[idx].to(self.device, non_blocking=True)

    def steps_per_epoch(self, n: int) -> int:
        """Optimizer steps in one epoch over ``n`` examples."""
        bs = self.config.batch_size
        stop = n - 1 if (n > bs and n % bs == 1) else n
        return max(1, math.ceil(stop / bs))

    # ----------------------------------------------------------------- loop
    def fit(self, x: Any, y: Tensor | None, *, val: tuple[Any, Tensor] | ValFn | None = None,
            eval_every: int | None = None, description: str = "train") -> History:
        """Train; return the :class:`History`.

        Same seed, same result: batches, augmentations and torch's global RNG (dropout) all
        come from ``config.seed``. torch seeds its global CPU generator at random in every
        process, so a fresh fit reseeds it (``config.seed + 2``) inside
        :func:`torch.random.fork_rng`: the caller's global RNG state is left as it was. A
        resumed fit continues from the state :meth:`load_state_dict` restored.

        Args:
            x, y: Training inputs and labels (``y`` None for a streaming dataset).
            val: Labelled validation data or a function returning label-free scores.
            eval_every: Evaluate every this many epochs (default: about 25 evaluations in all;
                the last epoch is always evaluated).
            description: Progress bar label.

        Raises:
            TrainingDivergedError: the loss became NaN or infinite.
        """
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if self.start_epoch == 0 and self.global_step == 0:
                torch.manual_seed(self.config.seed + 2)
            return self._fit(x, y, val=val, eval_every=eval_every, description=description)

    def _fit(self, x: Any, y: Tensor | None, *, val: tuple[Any, Tensor] | ValFn | None,
             eval_every: int | None, description: str) -> History:
        cfg = self.config
        n = n_items(x)
        spe = self.steps_per_epoch(n)
        epochs = max(cfg.epochs, math.ceil(cfg.min_steps / spe)) if cfg.min_steps else cfg.epochs
        total = epochs * spe
        # resuming (global_step > 0): the loaded optimizer groups carry ``initial_lr``; the
        # schedule continues at the saved step
        self.horizon = total  # a callback may shorten it (Callback.horizon): the schedule then ends there
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, self.horizon, cfg.warmup_steps, cfg.schedule),
            last_epoch=self.global_step - 1)
        every = eval_every or max(1, epochs // 25)
        if self.start_epoch == 0:
            self.history, self.best_state = History(), None
        hist = self.history
        best = hist.best_value if hist.best_value is not None else -math.inf if self.mode == "max" else math.inf
        for cb in self.callbacks:
            cb.on_train_begin(self.model, epochs)
        t0, stopped = time.perf_counter(), False
        with progress_bar(description, total - self.start_epoch * spe, cfg.progress) as bar:
            try:
                for epoch in range(self.start_epoch, epochs):
                    self.model.train()
                    te = time.perf_counter()
                    running = torch.zeros((), device=self.device)
                    for i, (xb, yb) in enumerate(self._batches(x, y)):
                        # image batches (in-memory or streamed from disk, after collation) alike
                        if isinstance(xb, Tensor) and xb.dim() == 4:
                            if cfg.augment != "none":
                                xb = augment_images(xb, cfg.augment, self.aug_generator)
                            if self.channels_last:
                                xb = xb.contiguous(memory_format=torch.channels_last)
                        info = StepInfo(epoch, self.global_step, self.horizon, self.aug_generator, self.device)
                        with torch.autocast(self.device.type, dtype=self.amp_dtype,
                                            enabled=self.amp_dtype is not None):
                            loss = self.step_fn(self.model, xb, yb, info)
                        self.optimizer.zero_grad(set_to_none=True)
                        self.scaler.scale(loss).backward()
                        if cfg.grad_clip:
                            self.scaler.unscale_(self.optimizer)
                            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                        self.scaler.step(self.optimizer)
                        self.scaler.update()
                        self.global_step += 1
                        running += loss.detach()
                        if i % 10 == 0 and not bool(torch.isfinite(running)):
                            raise TrainingDivergedError(
                                f"training diverged: loss is {float(loss.detach())} at epoch {epoch + 1}, "
                                f"step {self.global_step}; lower the learning rate")
                        bar.update(advance=1)
                        for cb in self.callbacks:
                            cb.on_batch_end(self.global_step, self.model)
                        self._shorten(total)  # before the next step's learning rate is set
                        self.scheduler.step()
                    train_loss = float(running) / spe
                    if not math.isfinite(train_loss):
                        raise TrainingDivergedError(
                            f"training diverged: mean loss is {train_loss} at epoch {epoch + 1}; "
                            "lower the learning rate")
                    logs: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss,
                                            "lr": self.optimizer.param_groups[0]["lr"],
                                            "seconds": time.perf_counter() - te}
                    if val is not None and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
                        logs.update(self._validate(val))
                    hist.epochs.append(logs)
                    bar.update(info=_short(logs))
                    value = logs.get(self.monitor)
                    if value is not None and (value > best if self.mode == "max" else value < best):
                        best, hist.best_epoch, hist.best_value = value, epoch + 1, value
                        self.best_state = copy.deepcopy(self.model.state_dict())
                    self.start_epoch = epoch + 1
                    for cb in self.callbacks:
                        cb.on_epoch_end(epoch + 1, logs, self.model)
            except StopTraining as stop:
                hist.stopped_early, stopped = str(stop), True
        # selecting the last epoch ("epoch" monitor), a run stopped mid-epoch keeps its later, last weights
        if self.best_state is not None and not (stopped and self.monitor == "epoch"):
            self.model.load_state_dict(self.best_state)
        hist.seconds = time.perf_counter() - t0
        hist.steps = self.global_step
        for cb in self.callbacks:
            cb.on_train_end(self.model, hist.epochs[-1] if hist.epochs else {})
        return hist

    def _shorten(self, total: int) -> None:
        """Take the callbacks' horizons (:meth:`Callback.horizon`): the smallest one given now, never below the steps
        done nor above the planned ones (a callback that gives a larger one, or None, later lets the schedule grow
        back); end the run once the schedule has ended."""
        given = [h for cb in self.callbacks if (h := cb.horizon(self.global_step, total)) is not None]
        self.horizon = max(self.global_step, min([total, *given]))
        if self.horizon < total and self.global_step >= self.horizon:
            raise StopTraining(f"the schedule, shortened to {self.horizon} of {total} steps, ended")

    def _validate(self, val: tuple[Any, Tensor] | ValFn) -> dict[str, float]:
        if callable(val):
            return {k: float(v) for k, v in val(self.model).items()}
        xv, yv = val
        m = classification_metrics(predict_proba(self.model, xv, device=self.device), yv)
        return {"val_accuracy": m["accuracy"], "val_loss": m["nll"], "val_macro_f1": m["macro_f1"]}

    # ----------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`fit` needs to continue exactly where it stopped (the model's weights aside).

        Optimizer, step and epoch counters, the batching and augmentation generators, torch's
        global RNG (dropout), the epochs logged so far, the best epoch with its weights, and
        early-stopping counters. Tensors, numbers, strings, lists and dicts only.
        """
        hist = self.history
        state: dict[str, Any] = {
            "optimizer": self.optimizer.state_dict(), "start_epoch": self.start_epoch,
            "global_step": self.global_step, "generator": self.generator.get_state(),
            "aug_generator": self.aug_generator.get_state().cpu(), "torch_rng": torch.get_rng_state(),
            "history": list(hist.epochs), "best_epoch": hist.best_epoch, "best_value": hist.best_value,
            "best_state": self.best_state,
            "early_stopping": [cb.state_dict() for cb in self.callbacks if isinstance(cb, EarlyStopping)],
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.scaler.is_enabled():
            state["grad_scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output so :meth:`fit` continues where it stopped."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.start_epoch = int(state["start_epoch"])
        self.global_step = int(state["global_step"])
        self.generator.set_state(state["generator"])
        self.aug_generator.set_state(state["aug_generator"].to(self.aug_generator.device)
                                     if self.device.type != "cpu" else state["aug_generator"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        if "grad_scaler" in state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["grad_scaler"])
        self.history = History(epochs=list(state.get("history", [])), best_epoch=state.get("best_epoch"),
                               best_value=state.get("best_value"))
        best = state.get("best_state")
        self.best_state = {k: v.to(self.device) for k, v in best.items()} if best else None
        stoppers = [cb for cb in self.callbacks if isinstance(cb, EarlyStopping)]
        for cb, cb_state in zip(stoppers, state.get("early_stopping", []), strict=False):
            cb.load_state_dict(cb_state)


def _short(logs: dict[str, Any]) -> str:
    parts = [f"loss {logs['train_loss']:.3f}"]
    if "val_accuracy" in logs:
        parts.append(f"val acc {logs['val_accuracy']:.3f}")
    return " ".join(parts)


def fit(model: nn.Module, x: Any, y: Tensor | None, config: TrainConfig, **kwargs: Any) -> History:
    """Convenience: ``Trainer(model, config, **trainer_kwargs).fit(x, y, val=..., ...)``.

    Keyword arguments ``val``, ``eval_every`` and ``description`` go to :meth:`Trainer.fit`,
    the rest to :class:`Trainer`.
    """
    fit_keys = {"val", "eval_every", "description"}
    fit_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in fit_keys}
    return Trainer(model, config, **kwargs).fit(x, y, **fit_kw)
