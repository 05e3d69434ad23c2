"""Training configuration shared by every training loop."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from warmstart.errors import ConfigError


@dataclass
class TrainConfig:
    """How to train.

    Attributes:
        epochs: Passes over the training data.
        batch_size: Examples per step.
        lr: Base learning rate (parameter groups may set their own).
        weight_decay: Decoupled weight decay (AdamW) or L2 (SGD).
        optimizer: ``adamw`` or ``sgd``.
        momentum: SGD momentum.
        schedule: ``cosine`` (to zero over all steps) or ``constant``.
        warmup_steps: Linear warm-up steps before the schedule.
        label_smoothing: Cross-entropy label smoothing in [0, 1).
        augment: Image augmentation: ``none``, ``light`` or ``strong``.
        patience: Early stopping after this many evaluations without improvement (None: off).
        min_steps: Lower bound on optimizer steps; tiny datasets get more epochs to reach it.
        grad_clip: Max global gradient norm (None: off).
        seed: Seed for initialization, batching and augmentation.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        progress: Show a progress bar.
        amp: On CUDA, mixed precision: bf16 autocast where the GPU supports it, else fp16
            autocast with a gradient scaler. Ignored on CPU (always float32).
        channels_last: The model and 4-D image batches in channels-last memory format when the
            model has 2-D convolutions (faster on CUDA and on CPU; numerics differ from the
            contiguous format in the last bits).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_steps: int = 0
    label_smoothing: float = 0.0
    augment: str = "none"
    patience: int | None = None
    min_steps: int = 0
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    amp: bool = True
    channels_last: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse out-of-range values with the valid range.

        Raises:
            ConfigError: a value is out of range or unknown.
        """
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (self.optimizer in ("adamw", "sgd"), f"optimizer must be adamw or sgd, got {self.optimizer!r}"),
            (self.schedule in ("cosine", "constant"),
             f"schedule must be cosine or constant, got {self.schedule!r}"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (self.augment in ("none", "light", "strong"),
             f"augment must be none, light or strong, got {self.augment!r}"),
            (self.patience is None or self.patience >= 1, "patience must be >= 1"),
            (self.min_steps >= 0 and self.warmup_steps >= 0, "min_steps and warmup_steps must be >= 0"),
            (self.grad_clip is None or self.grad_clip > 0, "grad_clip must be > 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)
