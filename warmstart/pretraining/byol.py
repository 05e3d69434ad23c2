"""Self-supervised pretraining without negatives: BYOL.

Grill, Strub, Altché, Tallec, Richemond, Buchatskaya, Doersch, Pires, Guo, Azar, Piot,
Kavukcuoglu, Munos, Valko, "Bootstrap Your Own Latent: A New Approach to Self-Supervised
Learning", NeurIPS 2020. Two augmented views of each unlabelled image; an online network
(encoder f_θ, projector g_θ, predictor q_θ) predicts the projection that a target network
(f_ξ, g_ξ) gives of the other view, under the normalized MSE of
:func:`~warmstart.losses.byol.byol_loss`, symmetrized over the views. The target receives
no gradient: after every optimizer step its weights move to an exponential moving average
of the online ones, ξ ← τξ + (1 − τ)θ, with τ raised from ``momentum`` to 1 on a cosine
schedule over training (the paper's τ_k = 1 − (1 − τ_base)(cos(πk/K) + 1)/2).

Differences from the paper, for small images on a CPU: AdamW instead of LARS, a smaller
projector and predictor (Linear → BatchNorm → ReLU → Linear; the paper uses 4096 hidden
and 256 outputs), and τ_base 0.99 instead of 0.996 (training runs hundreds of steps, not
hundreds of thousands). The online encoder is kept; the projector, predictor and target
network are dropped, and its features are standardized per channel (see
:mod:`warmstart.pretraining._feature_scale`): the result is an ordinary head-less
checkpoint like :func:`~warmstart.pretraining.simclr.pretrain_simclr`'s.

Measured on mnist5k + digits train images (smallcnn 16/32/64, the protocol of
``benchmarks/_ssl_probe.py``: default ``linear_probe``, 5 labels per class, a held-out
split of digits train): after 20 epochs BYOL's features probe at 0.60, no better than a
standardized random initialization (0.60) and well below SimCLR at the same budget (0.79);
τ_base 0.9 did not help (0.56 after 10 epochs). BYOL is known to need long training (the
paper trains 300–1000 epochs); on a CPU budget, prefer SimCLR.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones.checkpoint import Checkpoint
from warmstart.backbones.classifier import Classifier
from warmstart.engine.augment import AugmentSpec, augment_images
from warmstart.engine.callbacks import Callback
from warmstart.engine.config import TrainConfig
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import StepInfo, Trainer
from warmstart.errors import ConfigError
from warmstart.losses.byol import byol_loss
from warmstart.pretraining._ssl import mlp_head, run_ssl, ssl_config
from warmstart.pretraining.simclr import check_augment, encoder_for, unlabeled_images
from warmstart.pretraining.supervised import check_output_folder
from warmstart.tasks._task import Task

DEFAULT_CONFIG = TrainConfig(epochs=30, batch_size=256, lr=3e-3)
MOMENTUM = 0.99


class BYOLModel(nn.Module):
    """The online network (encoder, projector, predictor) and the target network (a copy of the first two).

    The target's parameters do not require gradients; :meth:`update_target` moves them.
    """

    def __init__(self, encoder: Classifier, proj_dim: int = 64, proj_hidden: int = 256,
                 pred_hidden: int = 256) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = mlp_head(encoder.feature_dim, proj_hidden, proj_dim)
        self.predictor = mlp_head(proj_dim, pred_hidden, proj_dim)
        self.target_encoder = copy.deepcopy(encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in self.target_parameters():
            p.requires_grad_(False)

    def target_parameters(self) -> list[nn.Parameter]:
        """The target network's parameters, in the order of :meth:`online_parameters`."""
        return [*self.target_encoder.parameters(), *self.target_projector.parameters()]

    def online_parameters(self) -> list[nn.Parameter]:
        """The online encoder's and projector's parameters (those the target follows)."""
        return [*self.encoder.parameters(), *self.projector.parameters()]

    def forward(self, x: Tensor) -> Tensor:
        """Online predictions q(g(f(x)))."""
        return self.predictor(self.projector(self.encoder.features(x)))

    @torch.no_grad()
    def target(self, x: Tensor) -> Tensor:
        """Target projections g_ξ(f_ξ(x)), without gradient."""
        return self.target_projector(self.target_encoder.features(x))

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """ξ ← τ·ξ + (1 − τ)·θ for every target parameter."""
        for t, o in zip(self.target_parameters(), self.online_parameters(), strict=True):
            t.mul_(tau).add_(o.detach(), alpha=1.0 - tau)


def target_momentum(base: float, step: int, total_steps: int) -> float:
    """τ after ``step`` of ``total_steps``: 1 − (1 − base)(cos(π·step/total) + 1)/2 (BYOL, Sec. 3.2)."""
    progress = min(1.0, step / max(1, total_steps))
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


class _TargetUpdate(Callback):
    """After each optimizer step, move the target network towards the online one."""

    def __init__(self, model: BYOLModel, base: float, steps_per_epoch: int) -> None:
        self.model, self.base, self.spe = model, base, steps_per_epoch
        self.total = steps_per_epoch

    def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
        self.total = total_epochs * self.spe

    def on_batch_end(self, step: int, model: nn.Module) -> None:
        self.model.update_target(target_momentum(self.base, step, self.total))


def byol_step(augment: AugmentSpec | str) -> Any:
    """A Trainer ``step_fn``: two augmented views; each view's prediction regresses the other's target."""

    def step(model: nn.Module, xb: Tensor, yb: Tensor, info: StepInfo) -> Tensor:
        assert isinstance(model, BYOLModel)
        views = torch.cat([augment_images(xb, augment, info.generator),
                           augment_images(xb, augment, info.generator)])
        q1, q2 = model(views).chunk(2)
        t1, t2 = model.target(views).chunk(2)
        return byol_loss(q1, t2) + byol_loss(q2, t1)

    return step


def pretrain_byol(tasks: Task | Sequence[Task], out: str | Path, *, backbone: str | None = None,
                  config: TrainConfig | None = None, momentum: float = MOMENTUM, proj_dim: int = 64,
                  proj_hidden: int = 256, pred_hidden: int = 256, augment: AugmentSpec | str = "ssl",
                  data: str = "all", resume: bool = False, standardize: bool = True,
                  **backbone_kwargs: Any) -> Checkpoint:
    """BYOL-pretrain a backbone on unlabelled images and save a head-less checkpoint at ``out``.

    Args:
        tasks: One task or several (their images are pooled; labels are never read).
        out: Checkpoint folder to write (atomically).
        backbone: Backbone name (default ``smallcnn``).
        config: Training settings (default: 30 epochs, batch 256, AdamW 3e-3); its
            ``augment`` is ignored: views use ``augment``.
        momentum: τ_base, the target's starting EMA momentum in [0, 1) (raised to 1 over training).
        proj_dim: Output size of the projector and predictor.
        proj_hidden: Hidden size of the projector.
        pred_hidden: Hidden size of the predictor.
        augment: View augmentation (an :class:`AugmentSpec` or a preset name).
        data: Which images: ``all`` (train split + unlabelled pool), ``train`` or ``unlabeled``.
        resume: Continue from ``out/.resume`` if an interrupted run left it there.
        standardize: Fold per-channel feature standardization into the saved encoder.

    Returns:
        The saved checkpoint (``classes`` None, no head), loaded back (hash verified).

    Raises:
        ConfigError: bad tasks, options or output folder.
        CheckpointError: ``resume`` without a resumable state, or one from another run.
        TrainingDivergedError: the loss became NaN or infinite.
    """
    task_list = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum}")
    check_augment(augment, "byol")
    config = ssl_config(config, DEFAULT_CONFIG)
    out = Path(out)
    check_output_folder(out)
    x = unlabeled_images(task_list, data, method="byol")
    seed_everything(config.seed)
    encoder = encoder_for(x, backbone or "smallcnn", method="byol", **backbone_kwargs)
    model = BYOLModel(encoder, proj_dim, proj_hidden, pred_hidden)

    def callbacks(trainer: Trainer) -> list[Callback]:
        return [_TargetUpdate(model, momentum, trainer.steps_per_epoch(len(x)))]

    extra = {"momentum": momentum, "proj_dim": proj_dim, "proj_hidden": proj_hidden, "pred_hidden": pred_hidden,
             "data": data, "augment": augment if isinstance(augment, str) else dataclasses.asdict(augment),
             "tasks": [t.name for t in task_list]}
    return run_ssl(model, encoder, x, config, byol_step(augment), out, method="byol",
                   source_task="+".join(t.name for t in task_list), loss_name="byol", extra=extra,
                   resume=resume, standardize=standardize, callbacks=callbacks)
