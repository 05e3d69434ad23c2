"""``protonet``: prototypical networks.

Snell, Swersky, Zemel, "Prototypical Networks for Few-shot Learning", NeurIPS
2017. An embedding f (the backbone's pooled features) is meta-trained on
episodes of the source task: each class's prototype is the mean embedding of
its support examples, and the query logits are minus the squared Euclidean
distances to the prototypes (cross-entropy, Adam). Training with more ways than
testing helps (``meta_ways`` defaults to 10, capped at the source's classes).

Adaptation computes the prototypes c_k of the target's support set. Since
−‖f − c_k‖² = 2c_kᵀf − ‖c_k‖² − ‖f‖² and the last term is shared by all
classes, the prototype classifier is exactly a linear head with W_k = 2c_k and
b_k = −‖c_k‖² (same softmax), so the fitted model is an ordinary
:class:`Classifier` that checkpoints, exports and evaluates like any other.
Batch norm: batch statistics of each episode during meta-training, the running
statistics at adaptation and test (not transductive).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.classifier import Classifier, HeadSpec
from warmstart.engine.augment import augment_images
from warmstart.engine.progress import progress_bar
from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.strategies._meta import META_PARAMS, MetaLearner
from warmstart.strategies._params import Param
from warmstart.tasks._task import Task, take
from warmstart.tasks.episodes import EpisodeSampler


def prototypes(emb: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """Mean embedding of each class (K×D); every class must have an example."""
    onehot = F.one_hot(y, n_classes).to(emb.dtype)
    return (onehot.t() @ emb) / onehot.sum(0).unsqueeze(1)


def proto_logits(query: Tensor, protos: Tensor) -> Tensor:
    """Minus squared Euclidean distances of queries (N×D) to prototypes (K×D)."""
    return -torch.cdist(query, protos).pow(2)


class ProtoNet(MetaLearner):
    """Prototypical networks: meta-trained embedding, prototypes of the target's support set."""

    name = "protonet"
    paper = "Snell, Swersky, Zemel, Prototypical Networks for Few-shot Learning, NeurIPS 2017"
    summary = "meta-trained embedding; nearest class mean (squared Euclidean) on the support set"
    params: ClassVar[dict[str, Param]] = {
        **META_PARAMS,
        "meta_ways": Param(10, 2, 1000, help="classes per meta-training episode (capped at the source's)"),
        "meta_episodes": Param(1000, 1, 10_000_000, help="meta-training episodes (one Adam step each)"),
        "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-4, 1e-2), help="meta-training learning rate"),
    }

    def _meta_train(self, model: Classifier, sampler: EpisodeSampler,
                    device: torch.device) -> dict[str, Any]:
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
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
                logits = proto_logits(emb[ns:], prototypes(emb[:ns], ys, sampler.n_way))
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
        return {"episodes": self.meta_episodes, "seconds": time.perf_counter() - t0,
                "final_loss": sum(recent[-tail:]) / tail, "final_episode_accuracy": sum(accs[-tail:]) / tail}

    def _adapt(self, model: Classifier, task: Task, device: torch.device) -> Classifier:
        counts = torch.bincount(task.y_train, minlength=task.n_classes)
        if bool((counts == 0).any()):
            missing = task.classes[int(torch.nonzero(counts == 0).flatten()[0])]
            raise ConfigError(f"protonet needs a labelled support example of every class; "
                              f"class {missing!r} of task {task.name!r} has none")
        model, report = adapt_to_task(model, task, None, "new")
        self.info_.update({"adapted": report["adapted"], "head": "new", "head_init": "prototypes"})
        model.replace_head(task.n_classes, HeadSpec())
        model.to(device).eval()
        n = len(task.y_train)
        with torch.no_grad():
            emb = torch.cat([model.features(_to(take(task.x_train, torch.arange(i, min(i + 256, n))), device))
                             for i in range(0, n, 256)])
            protos = prototypes(emb, task.y_train.to(device), task.n_classes)
            out = model.output_layer
            out.weight.copy_(2 * protos)
            out.bias.copy_(-(protos ** 2).sum(1))
        return model


def _to(x: Any, device: torch.device) -> Any:
    return x.to(device) if isinstance(x, Tensor) else x
