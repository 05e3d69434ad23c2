"""Self-supervised contrastive pretraining: SimCLR.

Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning
of Visual Representations", ICML 2020. Each unlabelled image gives two strongly
augmented views (the engine's seeded tensor augmentations: random resized crop,
shift, rotation, intensity changes); the backbone's pooled features go through an
MLP projection head, and the NT-Xent loss pulls the two views of an image together
against the other 2N−2 views of the batch. The projection head is dropped
afterwards and the encoder's features are standardized per channel (folded into its
last batch norm, :mod:`warmstart.pretraining._feature_scale`): the result is an
ordinary checkpoint with no classifier (``classes=None``, ``n_classes=0``) that every
transfer strategy starts from (they attach a new head).

Images come from one or more tasks, without labels: each task's train split and
unlabelled pool (``data="all"``, the default), only the pool (``"unlabeled"``),
or only the train split (``"train"``). Test splits are never used.

Defaults (τ 0.2, the ``ssl`` augmentation, a 256-hidden/128-output projection head,
feature standardization, batch 256, 30 epochs) come from an ablation on mnist5k train
+ digits train images, judged by the default ``linear_probe`` with 5 labels per class
on a held-out 30% of digits train plus digits' validation split (3 support seeds; the
protocol of ``benchmarks/_ssl_probe.py``, whose ``run_ssl_ablation`` reruns the table at a
shorter budget; digits' test split was not used). From the earlier settings (τ 0.5,
``strong``, a 64-64 head, no standardization; smallcnn 16/32/64, 20 epochs: 0.52):
standardizing the features gave 0.75 (NT-Xent leaves their scale free, and they came
out ~4× smaller than supervised features, too small for the probe's fixed L2 penalty),
dropping the pixel noise 0.77, τ 0.2 0.785, the wider head 0.79; with smallcnn's
default widths 32/64/128 0.83 (20 epochs) and 0.84 (every default, 30 epochs), against
supervised pretraining on mnist5k at 0.85 (16/32/64) and 0.88 (32/64/128). Removing the
brightness and contrast changes as well did not help (0.74). Each step is one run, so
differences of a point or two are within the seed-to-seed spread (±3 points).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones._registry import create_backbone
from warmstart.backbones.checkpoint import Checkpoint
from warmstart.backbones.classifier import Classifier, InputSpec
from warmstart.engine.augment import PRESETS, AugmentSpec, augment_images
from warmstart.engine.config import TrainConfig
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import StepInfo
from warmstart.errors import ConfigError, IncompatibleError
from warmstart.losses.nt_xent import nt_xent
from warmstart.pretraining._ssl import mlp_head, run_ssl, ssl_config
from warmstart.pretraining.supervised import check_output_folder
from warmstart.tasks._task import Task

DATA_CHOICES = ("all", "train", "unlabeled")

#: defaults (see the module docstring for how they were chosen)
DEFAULT_CONFIG = TrainConfig(epochs=30, batch_size=256, lr=3e-3)
TEMPERATURE = 0.2
PROJ_DIM = 128
PROJ_HIDDEN: int | None = 256
PROJ_LAYERS = 2
AUGMENT = "ssl"


class SimCLRModel(nn.Module):
    """An encoder (a head-less :class:`Classifier`) and the MLP projection head g(·).

    g is ``proj_layers − 1`` blocks of Linear → BatchNorm → ReLU, then a Linear, as in the
    paper's implementation (SimCLR v2, Chen et al. NeurIPS 2020, uses 3 layers).
    """

    def __init__(self, encoder: Classifier, proj_dim: int = 64, hidden: int | None = None,
                 layers: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = mlp_head(encoder.feature_dim, hidden or encoder.feature_dim, proj_dim, layers)

    def forward(self, x: Tensor) -> Tensor:
        """Projections z = g(f(x))."""
        return self.projector(self.encoder.features(x))


def unlabeled_images(tasks: Sequence[Task], data: str = "all", method: str = "simclr") -> Tensor:
    """The pooled unlabelled images of ``tasks`` (labels dropped; test splits never used).

    ``method`` names the pretraining method in the error messages.

    Raises:
        ConfigError: no task, a non-image or streaming task, different image shapes, an
            unknown ``data`` choice, or no images at all.
    """
    if data not in DATA_CHOICES:
        raise ConfigError(f"data={data!r} is not valid; choose one of {list(DATA_CHOICES)}")
    if not tasks:
        raise ConfigError(f"{method} needs at least one task (--task NAME)")
    parts: list[Tensor] = []
    shape = tuple(tasks[0].input_shape)
    for t in tasks:
        if t.modality != "image":
            raise ConfigError(f"{method} pretrains on images; task {t.name!r} is {t.modality}")
        if tuple(t.input_shape) != shape:
            raise ConfigError(f"{method} pools tasks of one image shape: {tasks[0].name!r} is {shape}, "
                              f"{t.name!r} is {tuple(t.input_shape)}")
        chosen = []
        if data in ("all", "train"):
            chosen.append(t.x_train)
        if data in ("all", "unlabeled") and t.x_unlabeled is not None:
            chosen.append(t.x_unlabeled)
        for x in chosen:
            if not isinstance(x, Tensor):
                raise ConfigError(f"{method} needs in-memory images; task {t.name!r} streams from disk")
            parts.append(x)
    x = torch.cat(parts) if parts else torch.empty(0)
    if len(x) < 2:
        raise ConfigError(f"{method} found {len(x)} unlabelled images (data={data!r}); it needs at least 2")
    return x


def encoder_for(x: Tensor, backbone: str = "smallcnn", *, method: str = "simclr",
                **backbone_kwargs: Any) -> Classifier:
    """A head-less, randomly initialized classifier normalizing inputs with ``x``'s statistics.

    ``method`` names the pretraining method in the error message.

    Raises:
        IncompatibleError: ``backbone`` is a text encoder (``hf:``).
    """
    if backbone.startswith("hf:"):
        raise IncompatibleError(f"backbone {backbone} is a text encoder; {method} pretrains on image data")
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    size = (int(x.shape[2]), int(x.shape[3]))
    spec = InputSpec("image", [float(v) for v in mean], [float(v) for v in std], size)
    bb = create_backbone(backbone, in_chans=int(x.shape[1]), input_size=size, **backbone_kwargs)
    return Classifier(bb, 0, input_spec=spec)


def check_augment(augment: AugmentSpec | str, method: str) -> None:
    """Refuse an augmentation that is neither an :class:`AugmentSpec` nor a preset name.

    Raises:
        ConfigError: an unknown preset name.
    """
    if isinstance(augment, str) and augment not in PRESETS:
        raise ConfigError(f"augment={augment!r} is not valid for {method}; choose one of {', '.join(PRESETS)}")


def simclr_step(temperature: float, augment: AugmentSpec | str) -> Any:
    """A Trainer ``step_fn``: two augmented views of the batch, NT-Xent of their projections."""

    def step(model: nn.Module, xb: Tensor, yb: Tensor, info: StepInfo) -> Tensor:
        v1 = augment_images(xb, augment, info.generator)
        v2 = augment_images(xb, augment, info.generator)
        z = model(torch.cat([v1, v2]))
        z1, z2 = z.chunk(2)
        return nt_xent(z1, z2, temperature)

    return step


def pretrain_simclr(tasks: Task | Sequence[Task], out: str | Path, *, backbone: str | None = None,
                    config: TrainConfig | None = None, temperature: float = TEMPERATURE,
                    proj_dim: int = PROJ_DIM, proj_hidden: int | None = PROJ_HIDDEN, proj_layers: int = PROJ_LAYERS,
                    augment: AugmentSpec | str = AUGMENT, data: str = "all", resume: bool = False,
                    standardize: bool = True, **backbone_kwargs: Any) -> Checkpoint:
    """SimCLR-pretrain a backbone on unlabelled images and save a head-less checkpoint at ``out``.

    Args:
        tasks: One task or several (their images are pooled; labels are never read).
        out: Checkpoint folder to write (atomically).
        backbone: Backbone name (default ``smallcnn``).
        config: Training settings (default :data:`DEFAULT_CONFIG`); its ``augment`` is
            ignored: views use ``augment``.
        temperature: NT-Xent temperature τ.
        proj_dim: Output size of the projection head (dropped afterwards).
        proj_hidden: Hidden size of the projection head (None: the encoder's feature size).
        proj_layers: Linear layers in the projection head (2 as in SimCLR, 3 as in SimCLR v2).
        augment: View augmentation (an :class:`AugmentSpec` or a preset name of
            :data:`warmstart.engine.augment.PRESETS`).
        data: Which images: ``all`` (train split + unlabelled pool), ``train`` or ``unlabeled``.
        resume: Continue from ``out/.resume`` if an interrupted run left it there.
        standardize: Fold per-channel feature standardization into the saved encoder (see
            :mod:`warmstart.pretraining._feature_scale`).

    Returns:
        The saved checkpoint (``classes`` None, no head), loaded back (hash verified).

    Raises:
        ConfigError: bad tasks, options or output folder (see :func:`unlabeled_images`).
        CheckpointError: ``resume`` without a resumable state, or one from another run.
        TrainingDivergedError: the loss became NaN or infinite.
    """
    task_list = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    check_augment(augment, "simclr")
    config = ssl_config(config, DEFAULT_CONFIG)
    out = Path(out)
    check_output_folder(out)
    x = unlabeled_images(task_list, data)
    seed_everything(config.seed)
    encoder = encoder_for(x, backbone or "smallcnn", **backbone_kwargs)
    model = SimCLRModel(encoder, proj_dim, proj_hidden, proj_layers)
    extra = {"temperature": temperature, "proj_dim": proj_dim, "proj_hidden": proj_hidden,
             "proj_layers": proj_layers, "data": data,
             "augment": augment if isinstance(augment, str) else dataclasses.asdict(augment),
             "tasks": [t.name for t in task_list]}
    return run_ssl(model, encoder, x, config, simclr_step(temperature, augment), out, method="simclr",
                   source_task="+".join(t.name for t in task_list), loss_name="nt_xent", extra=extra,
                   resume=resume, standardize=standardize)
