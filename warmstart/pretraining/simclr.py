"""Self-supervised contrastive pretraining: SimCLR.

Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning
of Visual Representations", ICML 2020. Each unlabelled image gives two strongly
augmented views (the engine's seeded tensor augmentations: random resized crop,
shift, rotation, intensity changes, noise); the backbone's pooled features go
through an MLP projection head, and the NT-Xent loss pulls the two views of an
image together against the other 2N−2 views of the batch. The projection head is
dropped afterwards: the result is an ordinary checkpoint with no classifier
(``classes=None``, ``n_classes=0``) that every transfer strategy starts from
(they attach a new head).

Images come from one or more tasks, without labels: each task's train split and
unlabelled pool (``data="all"``, the default), only the pool (``"unlabeled"``),
or only the train split (``"train"``). Test splits are never used.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones._registry import create_backbone
from warmstart.backbones.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from warmstart.backbones.classifier import Classifier, InputSpec
from warmstart.engine.augment import AugmentSpec, augment_images
from warmstart.engine.config import TrainConfig
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import StepInfo, Trainer
from warmstart.errors import CheckpointError, ConfigError, IncompatibleError
from warmstart.losses.nt_xent import nt_xent
from warmstart.pretraining._resume import load_state
from warmstart.pretraining.supervised import RESUME_DIR, _SaveResume, check_output_folder
from warmstart.tasks._task import Task

DATA_CHOICES = ("all", "train", "unlabeled")


class SimCLRModel(nn.Module):
    """An encoder (a head-less :class:`Classifier`) and the MLP projection head g(·).

    g is Linear → BatchNorm → ReLU → Linear, as in the paper's implementation.
    """

    def __init__(self, encoder: Classifier, proj_dim: int = 64, hidden: int | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        d = encoder.feature_dim
        h = hidden or d
        self.projector = nn.Sequential(nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True),
                                       nn.Linear(h, proj_dim))

    def forward(self, x: Tensor) -> Tensor:
        """Projections z = g(f(x))."""
        return self.projector(self.encoder.features(x))


def unlabeled_images(tasks: Sequence[Task], data: str = "all") -> Tensor:
    """The pooled unlabelled images of ``tasks`` (labels dropped; test splits never used).

    Raises:
        ConfigError: no task, a non-image or streaming task, different image shapes, an
            unknown ``data`` choice, or no images at all.
    """
    if data not in DATA_CHOICES:
        raise ConfigError(f"data={data!r} is not valid; choose one of {list(DATA_CHOICES)}")
    if not tasks:
        raise ConfigError("simclr needs at least one task (--task NAME)")
    parts: list[Tensor] = []
    shape = tuple(tasks[0].input_shape)
    for t in tasks:
        if t.modality != "image":
            raise ConfigError(f"simclr pretrains on images; task {t.name!r} is {t.modality}")
        if tuple(t.input_shape) != shape:
            raise ConfigError(f"simclr pools tasks of one image shape: {tasks[0].name!r} is {shape}, "
                              f"{t.name!r} is {tuple(t.input_shape)}")
        chosen = []
        if data in ("all", "train"):
            chosen.append(t.x_train)
        if data in ("all", "unlabeled") and t.x_unlabeled is not None:
            chosen.append(t.x_unlabeled)
        for x in chosen:
            if not isinstance(x, Tensor):
                raise ConfigError(f"simclr needs in-memory images; task {t.name!r} streams from disk")
            parts.append(x)
    x = torch.cat(parts) if parts else torch.empty(0)
    if len(x) < 2:
        raise ConfigError(f"simclr found {len(x)} unlabelled images (data={data!r}); it needs at least 2")
    return x


def encoder_for(x: Tensor, backbone: str = "smallcnn", **backbone_kwargs: Any) -> Classifier:
    """A head-less, randomly initialized classifier normalizing inputs with ``x``'s statistics.

    Raises:
        IncompatibleError: ``backbone`` is a text encoder (``hf:``).
    """
    if backbone.startswith("hf:"):
        raise IncompatibleError(f"backbone {backbone} is a text encoder; simclr pretrains on image data")
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    size = (int(x.shape[2]), int(x.shape[3]))
    spec = InputSpec("image", [float(v) for v in mean], [float(v) for v in std], size)
    bb = create_backbone(backbone, in_chans=int(x.shape[1]), input_size=size, **backbone_kwargs)
    return Classifier(bb, 0, input_spec=spec)


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
                    config: TrainConfig | None = None, temperature: float = 0.5, proj_dim: int = 64,
                    augment: AugmentSpec | str = "strong", data: str = "all", resume: bool = False,
                    **backbone_kwargs: Any) -> Checkpoint:
    """SimCLR-pretrain a backbone on unlabelled images and save a head-less checkpoint at ``out``.

    Args:
        tasks: One task or several (their images are pooled; labels are never read).
        out: Checkpoint folder to write (atomically).
        backbone: Backbone name (default ``smallcnn``).
        config: Training settings (default: 30 epochs, batch 256, AdamW 3e-3); its
            ``augment`` is ignored: views use ``augment``.
        temperature: NT-Xent temperature τ (default 0.5).
        proj_dim: Output size of the projection head (dropped afterwards).
        augment: View augmentation (an :class:`AugmentSpec` or a preset name; default ``strong``).
        data: Which images: ``all`` (train split + unlabelled pool), ``train`` or ``unlabeled``.
        resume: Continue from ``out/.resume`` if an interrupted run left it there.

    Returns:
        The saved checkpoint (``classes`` None, no head), loaded back (hash verified).

    Raises:
        ConfigError: bad tasks, options or output folder (see :func:`unlabeled_images`).
        TrainingDivergedError: the loss became NaN or infinite.
    """
    task_list = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if isinstance(augment, str) and augment not in ("light", "strong"):
        raise ConfigError(f"augment={augment!r} is not valid for simclr; choose light or strong")
    config = config or TrainConfig(epochs=30, batch_size=256, lr=3e-3)
    if config.batch_size < 2:
        raise ConfigError("simclr needs batch_size >= 2 (negatives come from the batch)")
    config = dataclasses.replace(config, augment="none")
    out = Path(out)
    check_output_folder(out)
    x = unlabeled_images(task_list, data)
    seed_everything(config.seed)
    encoder = encoder_for(x, backbone or "smallcnn", **backbone_kwargs)
    model = SimCLRModel(encoder, proj_dim)
    trainer = Trainer(model, config, step_fn=simclr_step(temperature, augment))
    resume_dir = out / RESUME_DIR
    if resume:
        if not (resume_dir / "state.json").exists():
            raise CheckpointError(f"--resume: no interrupted run to resume in {out} (no {RESUME_DIR}/ state)")
        state = load_state(resume_dir)
        model.load_state_dict(state["model"])
        trainer.load_state_dict(state["trainer"])
    trainer.callbacks.append(_SaveResume(trainer, resume_dir))
    names = "+".join(t.name for t in task_list)
    dummy = torch.zeros(len(x), dtype=torch.long)
    hist = trainer.fit(x, dummy, description=f"simclr {names}")
    final = hist.epochs[-1]["train_loss"] if hist.epochs else None
    extra = {"method": "simclr", "train_config": config.to_json(), "temperature": temperature,
             "proj_dim": proj_dim, "data": data, "n_images": len(x),
             "augment": augment if isinstance(augment, str) else dataclasses.asdict(augment),
             "tasks": [t.name for t in task_list], "history": hist.epochs}
    save_checkpoint(encoder, out, classes=None, source_task=names,
                    metrics={"train": {"nt_xent": final}}, extra=extra)
    shutil.rmtree(resume_dir, ignore_errors=True)
    return load_checkpoint(out)
