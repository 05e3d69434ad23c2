"""The engine: training loop, evaluation, callbacks, augmentation, seeding, device."""

from warmstart.engine.augment import AugmentSpec, augment_images
from warmstart.engine.callbacks import Callback, EarlyStopping, LambdaCallback, StopTraining
from warmstart.engine.config import TrainConfig
from warmstart.engine.device import configure_threads, resolve_device
from warmstart.engine.embed import embed
from warmstart.engine.evaluate import (
    classification_metrics,
    evaluate,
    expected_calibration_error,
    predict_proba,
)
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import History, StepFn, StepInfo, Trainer, cross_entropy_step, fit

__all__ = [
    "AugmentSpec",
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "StepFn",
    "StepInfo",
    "StopTraining",
    "TrainConfig",
    "Trainer",
    "augment_images",
    "classification_metrics",
    "configure_threads",
    "cross_entropy_step",
    "embed",
    "evaluate",
    "expected_calibration_error",
    "fit",
    "predict_proba",
    "resolve_device",
    "seed_everything",
]
