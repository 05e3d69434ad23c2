"""``protonet``: prototypical networks, with the ways known to make them generalize.

Snell, Swersky, Zemel, "Prototypical Networks for Few-shot Learning", NeurIPS
2017. An embedding f (the backbone's pooled features) is meta-trained on
episodes of the source task: each class's prototype c_k is the mean embedding of
its support examples, and the query logits are minus the squared Euclidean
distances to the prototypes (``metric="euclidean"``), or the cosine similarity
scaled by a learned temperature τ, τ·cos(f, c_k) (``metric="cosine"``: Chen et
al., "Meta-Baseline: Exploring Simple Meta-Learning for Few-Shot Learning",
ICCV 2021; Gidaris & Komodakis, CVPR 2018). Cross-entropy, Adam, cosine learning
rate decay. Options, each a declared hyperparameter:

* ``meta_ways``: training with more ways than testing helps (Snell et al.);
  capped at the source's classes.
* ``rotation_classes``: every source image is also turned by 90, 180 and 270
  degrees and each (class, rotation) pair is a class of its own, four times the
  classes (Santoro et al., ICML 2016; the Omniglot protocol of Vinyals et al. 2016
  and Snell et al. 2017); see :mod:`warmstart.tasks.rotation_classes`. Applied
  to square image sources held in memory, skipped (and said so in ``info_``)
  for others.
* ``pretrain_epochs``: before the episodes, train the embedding with a linear
  classifier over all source classes (rotation classes included), then drop the
  classifier: Meta-Baseline's Classifier-Baseline stage, on top of whatever the
  ``--source`` checkpoint already learned.
* ``augment``: image augmentation of the meta-training episodes and of the
  pretraining stage.
* ``support_augment``: test-time augmentation of the support set: each support
  image also contributes this many augmented copies (the ``augment`` preset) to
  its class prototype.
* ``support_bn``: re-estimate the batch-norm statistics on the target's support
  set before computing prototypes (AdaBN, Li et al. 2017, on labelled data only).

The defaults (Euclidean metric, rotation classes, a 10-epoch classifier stage,
20-way episodes, no support augmentation, running batch-norm statistics) were
chosen on held-out episodes: mnist5k's test split and digits' train split, 5-way
5-shot, after meta-training on mnist5k's train split (classes 0-4 for unseen
classes); ``benchmarks/fewshot_protonet_heldout.py`` and
``benchmarks/results/fewshot_episodes/protonet_heldout.md`` hold the numbers. On
unseen classes, rotation classes with the classifier stage lifted held-out
accuracy from about 0.70 to 0.86-0.89; when every target class was a source class
they cost about 1.5 points, so turn them off (and ``pretrain_epochs=0``) when the
target's classes are the source's. The cosine metric, strong augmentation,
support augmentation and support statistics did not help there.

Adaptation computes the prototypes c_k of the target's support set. For the
Euclidean metric, −‖f − c_k‖² = 2c_kᵀf − ‖c_k‖² − ‖f‖² and the last term is
shared by all classes, so the prototype classifier is exactly a linear head with
W_k = 2c_k and b_k = −‖c_k‖² (same softmax). For the cosine metric the head
L2-normalizes the features and has W_k = τ·c_k/‖c_k‖, no bias. Either way the
fitted model is an ordinary :class:`Classifier` that checkpoints, exports and
evaluates like any other. Batch norm: batch statistics of each batch during
pretraining and meta-training, the running statistics at adaptation and test
(not transductive).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.classifier import Classifier, HeadSpec
from warmstart.engine.augment import augment_images
from warmstart.engine.config import TrainConfig
from warmstart.engine.progress import progress_bar
from warmstart.engine.trainer import Trainer
from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.source import Source
from warmstart.strategies._meta import META_PARAMS, MetaLearner
from warmstart.strategies._params import Param
from warmstart.tasks._task import Task, n_items, take
from warmstart.tasks.episodes import EpisodeSampler
from warmstart.tasks.rotation_classes import with_rotation_classes

PRETRAIN_BATCH = 128


def prototypes(emb: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """Mean embedding of each class (K×D); every class must have an example."""
    onehot = F.one_hot(y, n_classes).to(emb.dtype)
    return (onehot.t() @ emb) / onehot.sum(0).unsqueeze(1)


def proto_logits(query: Tensor, protos: Tensor) -> Tensor:
    """Minus squared Euclidean distances of queries (N×D) to prototypes (K×D)."""
    return -torch.cdist(query, protos).pow(2)


def cosine_logits(query: Tensor, protos: Tensor, scale: Tensor | float) -> Tensor:
    """``scale`` times the cosine similarity of queries (N×D) to prototypes (K×D)."""
    return scale * F.normalize(query, dim=1) @ F.normalize(protos, dim=1).t()


class ProtoNet(MetaLearner):
    """Prototypical networks: meta-trained embedding, prototypes of the target's support set."""

    name = "protonet"
    paper = ("Snell, Swersky, Zemel, Prototypical Networks for Few-shot Learning, NeurIPS 2017; "
             "Chen et al., Meta-Baseline, ICCV 2021 (cosine metric, pretraining stage)")
    summary = "meta-trained embedding; nearest class mean (Euclidean or scaled cosine) on the support set"
    params: ClassVar[dict[str, Param]] = {
        **META_PARAMS,
        "meta_ways": Param(20, 2, 1000, search=(5, 20),
                           help="classes per meta-training episode (capped at the source's, rotation "
                                "classes included)"),
        "meta_episodes": Param(1000, 1, 10_000_000, help="meta-training episodes (one Adam step each)"),
        "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-4, 1e-2), help="meta-training learning rate"),
        "metric": Param("euclidean", choices=("euclidean", "cosine"), search=("euclidean", "cosine"),
                        help="euclidean: minus squared distance (Snell et al.); cosine: learned scale times "
                             "cosine similarity, L2-normalized embeddings (Meta-Baseline)"),
        "scale_init": Param(10.0, 0.1, 1000.0, log=True,
                            help="initial logit scale of the cosine metric (learned in meta-training)"),
        "rotation_classes": Param(True, search=(False, True),
                                  help="also turn every source image by 90/180/270 degrees, each (class, "
                                       "rotation) a new class: 4x the classes (square image sources)"),
        "pretrain_epochs": Param(10, 0, 10_000, search=(0, 20),
                                 help="epochs of supervised training over all source classes before the "
                                      "episodes (Meta-Baseline's classifier stage; 0: none)"),
        "pretrain_lr": Param(3e-3, 1e-6, 1.0, log=True, help="learning rate of the pretraining stage (AdamW)"),
        "support_augment": Param(0, 0, 64, search=(0, 8),
                                 help="augmented copies of each support image added to its prototype at "
                                      "adaptation (test-time augmentation; needs augment light or strong)"),
        "support_bn": Param(False, search=(False, True),
                            help="re-estimate batch-norm statistics on the target's support set before "
                                 "computing prototypes (AdaBN on the support set; never on queries)"),
    }
    adapt_params: ClassVar[frozenset[str]] = frozenset({"support_augment", "support_bn"})

    # ------------------------------------------------------------------ meta-training
    def _source_task(self, source: Source) -> Task:
        task = super()._source_task(source)
        self._rotation_note = "off"
        if self.rotation_classes:
            if (task.modality == "image" and isinstance(task.x_train, Tensor) and task.x_train.dim() == 4
                    and task.x_train.shape[-1] == task.x_train.shape[-2]):
                task = with_rotation_classes(task)
                self._rotation_note = "on"
            else:
                self._rotation_note = "skipped: not a square image source held in memory"
        return task

    def _meta_train(self, model: Classifier, sampler: EpisodeSampler,
                    device: torch.device) -> dict[str, Any]:
        t_all = time.perf_counter()
        facts: dict[str, Any] = {"metric": self.metric, "classes": len(sampler.classes),
                                 "rotation_classes": getattr(self, "_rotation_note", "off")}
        if self.pretrain_epochs > 0:
            facts["pretrain"] = self._pretrain(model, sampler, device)
        scale = nn.Parameter(torch.tensor(float(self.scale_init), device=device))
        params = list(model.parameters()) + ([scale] if self.metric == "cosine" else [])
        opt = torch.optim.Adam(params, lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.meta_episodes)
        gen = torch.Generator(device=device).manual_seed(self.seed + 1)
        is_image = model.input_spec.modality == "image"
        model.train()
        t0, recent, accs = time.perf_counter(), [], []
        with progress_bar("protonet meta-train", self.meta_episodes, self.progress) as bar:
            for i in range(self.meta_episodes):
                ep = sampler.episode(i)
                x = torch.cat([ep.x_support, ep.x_query]).to(device)
                if is_image and self.augment != "none":
                    x = augment_images(x, self.augment, gen)
                emb = model.features(x)
                ns = len(ep.y_support)
                ys, yq = ep.y_support.to(device), ep.y_query.to(device)
                protos = prototypes(emb[:ns], ys, sampler.n_way)
                logits = (cosine_logits(emb[ns:], protos, scale) if self.metric == "cosine"
                          else proto_logits(emb[ns:], protos))
                loss = F.cross_entropy(logits, yq)
                if not torch.isfinite(loss):
                    raise TrainingDivergedError(
                        f"protonet diverged: episode loss is {float(loss)} at episode {i + 1}; lower lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                recent.append(float(loss.detach()))
                accs.append(float((logits.argmax(1) == yq).float().mean()))
                bar.update(advance=1)
        tail = max(1, len(recent) // 10)
        facts.update({"episodes": self.meta_episodes, "episode_seconds": time.perf_counter() - t0,
                      "seconds": time.perf_counter() - t_all,
                      "final_loss": sum(recent[-tail:]) / tail,
                      "final_episode_accuracy": sum(accs[-tail:]) / tail})
        if self.metric == "cosine":
            facts["scale"] = float(scale.detach())
        return facts

    def _pretrain(self, model: Classifier, sampler: EpisodeSampler, device: torch.device) -> dict[str, Any]:
        """Supervised training of ``model`` with a linear head over all of the sampler's classes, head dropped."""
        x = sampler.x
        remap = torch.full((int(sampler.y.max()) + 1,), -1, dtype=torch.long)
        remap[torch.tensor(sampler.classes)] = torch.arange(len(sampler.classes))
        keep = torch.nonzero(remap[sampler.y] >= 0).flatten()
        x, y = take(x, keep), remap[sampler.y[keep]]
        model.replace_head(len(sampler.classes), HeadSpec())
        augment = self.augment if model.input_spec.modality == "image" else "none"
        cfg = TrainConfig(epochs=self.pretrain_epochs, batch_size=PRETRAIN_BATCH, lr=self.pretrain_lr,
                          augment=augment, seed=self.seed, device=str(device), progress=self.progress)
        t0 = time.perf_counter()
        history = Trainer(model, cfg).fit(x, y, description="protonet pretrain")
        model.head = None
        model.n_classes = 0
        losses = history.curve("train_loss")
        return {"epochs": self.pretrain_epochs, "classes": len(sampler.classes), "examples": len(y),
                "seconds": time.perf_counter() - t0, "final_loss": losses[-1] if losses else None}

    # ------------------------------------------------------------------ adaptation
    def _adapt(self, model: Classifier, task: Task, device: torch.device) -> Classifier:
        counts = torch.bincount(task.y_train, minlength=task.n_classes)
        if bool((counts == 0).any()):
            missing = task.classes[int(torch.nonzero(counts == 0).flatten()[0])]
            raise ConfigError(f"protonet needs a labelled support example of every class; "
                              f"class {missing!r} of task {task.name!r} has none")
        if self.support_augment > 0 and (task.modality != "image" or self.augment == "none"):
            raise ConfigError(f"support_augment={self.support_augment} needs image data and augment light or "
                              f"strong (task {task.name!r} is {task.modality}, augment={self.augment!r})")
        model, report = adapt_to_task(model, task, None, "new")
        cosine = self.metric == "cosine"
        self.info_.update({"adapted": report["adapted"], "head": "new", "head_init": "prototypes",
                           "metric": self.metric, "support_augment": self.support_augment})
        model.replace_head(task.n_classes, HeadSpec(l2_normalize=cosine))
        model.to(device).eval()
        x, y = task.x_train, task.y_train
        if self.support_augment > 0:
            gen = torch.Generator(device=device).manual_seed(self.seed + 2)
            xd = x.to(device)
            x = torch.cat([xd, *(augment_images(xd, self.augment, gen) for _ in range(self.support_augment))])
            y = y.repeat(1 + self.support_augment)
        n = len(y)
        if self.support_bn:
            self.info_["support_bn"] = support_statistics(model, x, device)
        with torch.no_grad():
            emb = torch.cat([model.features(_to(take(x, torch.arange(i, min(i + 256, n))), device))
                             for i in range(0, n, 256)])
            protos = prototypes(emb, y.to(device), task.n_classes)
            out = model.output_layer
            if cosine:
                scale = float(self.meta_info_.get("scale", self.scale_init))
                out.weight.copy_(scale * F.normalize(protos, dim=1))
                out.bias.zero_()
            else:
                out.weight.copy_(2 * protos)
                out.bias.copy_(-(protos ** 2).sum(1))
        return model


def support_statistics(model: Classifier, x: Any, device: torch.device) -> int:
    """Set every batch norm's running statistics to those of ``x`` (one pass, all of it); return the count.

    Li et al., "Adaptive Batch Normalization for Practical Domain Adaptation", 2017 (AdaBN), here on the
    labelled support set only. Leaves ``model`` in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below: the statistics of all of x
    model.train()
    n = n_items(x)
    with torch.no_grad():
        for i in range(0, n, 256):
            model.features(_to(take(x, torch.arange(i, min(i + 256, n))), device))
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.eval()
    return len(bns)


def _to(x: Any, device: torch.device) -> Any:
    return x.to(device) if isinstance(x, Tensor) else x
