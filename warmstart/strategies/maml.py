"""``maml``: model-agnostic meta-learning, second order or first order.

Finn, Abbeel, Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks", ICML 2017. Inner loop: θ' = θ − α∇L_support(θ), ``inner_steps``
times; outer loop: θ ← θ − β∇_θ Σ_episodes L_query(θ') with Adam over
``meta_batch`` episodes per step. Written with :func:`torch.func.functional_call`
on a parameter dict: the second-order version keeps the inner gradients in the
graph (``create_graph=True``), the first-order one (``first_order=True``, FOMAML)
treats them as constants. No learn2learn or higher.

Batch norm uses batch statistics everywhere, in meta-training, adaptation and
prediction (transductive, as in the paper's code): the query batch is
normalized with its own statistics, so predictions depend on the batch they are
made in. After adaptation the running statistics are set to the support set's,
so a saved checkpoint of the adapted model is also usable in ordinary eval mode.

The meta-trained head has ``meta_ways`` outputs; labels are shuffled per
episode, so it is a meta-learned initialization for any class order. A target
with another number of classes gets a zero-initialized head instead. Adaptation
runs ``adapt_steps`` plain gradient steps at ``inner_lr`` on the whole support
set. A divergent ``inner_lr`` raises :class:`TrainingDivergedError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.classifier import Classifier
from warmstart.engine.augment import augment_images
from warmstart.engine.progress import progress_bar
from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.strategies._meta import META_PARAMS, MetaLearner
from warmstart.strategies._params import Param
from warmstart.tasks._task import Task
from warmstart.tasks.episodes import EpisodeSampler

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


class BatchStatNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that always normalizes with the batch's statistics (train and eval).

    Same parameters and buffers as :class:`nn.BatchNorm2d` (checkpoints are
    interchangeable); the running statistics are neither used nor updated.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class BatchStatNorm1d(nn.BatchNorm1d):
    """BatchNorm1d counterpart of :class:`BatchStatNorm2d`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def use_batch_statistics(model: nn.Module) -> nn.Module:
    """Switch every BatchNorm1d/2d of ``model`` (in place) to batch statistics; return it."""
    for m in model.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = BatchStatNorm2d
        elif type(m) is nn.BatchNorm1d:
            m.__class__ = BatchStatNorm1d
    return model


DIVERGENCE_FACTOR = 1e3


def check_inner_loss(loss: Tensor, first: float | None, step: int, lr: float, where: str) -> float:
    """Refuse a NaN/inf loss, or one that grew ``DIVERGENCE_FACTOR``-fold over max(first loss, 1).

    Returns:
        The first loss of the loop (``first``, or this loss at step 0).

    Raises:
        TrainingDivergedError: with the step and the learning rate.
    """
    value = float(loss.detach())
    if first is None:
        first = value
    if not math.isfinite(value) or value > DIVERGENCE_FACTOR * max(first, 1.0):
        raise TrainingDivergedError(
            f"{where} diverged: support loss is {value:.4g} at step {step + 1} (it started at {first:.4g}; "
            f"inner_lr={lr}); lower inner_lr")
    return first


def inner_loop(model: nn.Module, params: Params, x: Tensor, y: Tensor, *, steps: int, lr: float,
               first_order: bool = False, loss_fn: LossFn = F.cross_entropy) -> Params:
    """θ' after ``steps`` gradient steps θ ← θ − lr·∇loss(θ) on (x, y), via ``functional_call``.

    With ``first_order=False`` the returned tensors keep the inner gradients in the
    autograd graph (second-order MAML); with ``True`` the gradients are constants.

    Raises:
        TrainingDivergedError: the support loss became NaN/inf or grew 1000-fold.
    """
    names = list(params)
    first = None
    for step in range(steps):
        loss = loss_fn(functional_call(model, params, (x,)), y)
        first = check_inner_loss(loss, first, step, lr, "maml inner loop")
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=not first_order,
                                    allow_unused=True)
        params = {n: p if g is None else p - lr * (g.detach() if first_order else g)
                  for n, p, g in zip(names, params.values(), grads, strict=True)}
    return params


def meta_loss(model: nn.Module, params: Params, support: tuple[Tensor, Tensor],
              query: tuple[Tensor, Tensor], *, steps: int, lr: float, first_order: bool = False,
              loss_fn: LossFn = F.cross_entropy) -> Tensor:
    """Query loss of the parameters adapted on the support set: L_query(θ'(θ)).

    Its gradient with respect to ``params`` is the MAML meta-gradient (exact second
    order, or first order with ``first_order=True``).
    """
    fast = inner_loop(model, params, *support, steps=steps, lr=lr, first_order=first_order,
                      loss_fn=loss_fn)
    xq, yq = query
    return loss_fn(functional_call(model, fast, (xq,)), yq)


class MAML(MetaLearner):
    """MAML: meta-learned initialization, fine-tuned on the support set by a few gradient steps."""

    name = "maml"
    paper = "Finn, Abbeel, Levine, Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks, ICML 2017"
    summary = "meta-learned initialization + inner-loop fine-tuning on the support set (torch.func)"
    head_ways = True
    adapt_params: ClassVar[frozenset[str]] = frozenset({"adapt_steps"})
    params: ClassVar[dict[str, Param]] = {
        **META_PARAMS,
        "meta_iterations": Param(200, 1, 10_000_000, help="outer (meta) steps"),
        "meta_batch": Param(4, 1, 1000, help="episodes per meta step"),
        "inner_steps": Param(5, 1, 100, help="inner gradient steps during meta-training"),
        "adapt_steps": Param(10, 0, 10_000, help="gradient steps on the target's support set"),
        "inner_lr": Param(0.1, 1e-6, 1e6, log=True, search=(1e-3, 0.5), help="inner-loop learning rate α"),
        "first_order": Param(False, help="first-order MAML (inner gradients not differentiated)"),
        "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-4, 1e-2), help="meta (outer) learning rate β"),
    }

    def _meta_train(self, model: Classifier, sampler: EpisodeSampler,
                    device: torch.device) -> dict[str, Any]:
        use_batch_statistics(model)
        model.train()
        params: Params = {n: p for n, p in model.named_parameters()}
        opt = torch.optim.Adam(params.values(), lr=self.lr)
        gen = torch.Generator(device=device).manual_seed(self.seed + 1)
        is_image = model.input_spec.modality == "image"
        t0, losses, accs = time.perf_counter(), [], []
        with progress_bar(f"maml meta-train ({'first' if self.first_order else 'second'} order)",
                          self.meta_iterations, self.progress) as bar:
            for it in range(self.meta_iterations):
                opt.zero_grad(set_to_none=True)
                total, correct = 0.0, 0.0
                for b in range(self.meta_batch):
                    ep = sampler.episode(it * self.meta_batch + b)
                    xs, xq = ep.x_support.to(device), ep.x_query.to(device)
                    if is_image and self.augment != "none":
                        xs, xq = augment_images(xs, self.augment, gen), augment_images(xq, self.augment, gen)
                    ys, yq = ep.y_support.to(device), ep.y_query.to(device)
                    fast = inner_loop(model, params, xs, ys, steps=self.inner_steps, lr=self.inner_lr,
                                      first_order=self.first_order)
                    logits = functional_call(model, fast, (xq,))
                    loss = F.cross_entropy(logits, yq) / self.meta_batch
                    qv = float(loss.detach()) * self.meta_batch
                    if not math.isfinite(qv) or qv > DIVERGENCE_FACTOR:
                        raise TrainingDivergedError(
                            f"maml diverged: query loss is {qv:.4g} at meta-iteration {it + 1} "
                            f"(inner_lr={self.inner_lr}, lr={self.lr}); lower inner_lr or lr")
                    loss.backward()
                    total += float(loss.detach())
                    correct += float((logits.argmax(1) == yq).float().mean()) / self.meta_batch
                opt.step()
                losses.append(total)
                accs.append(correct)
                bar.update(advance=1)
        tail = max(1, len(losses) // 10)
        return {"iterations": self.meta_iterations, "meta_batch": self.meta_batch,
                "inner_steps": self.inner_steps, "inner_lr": self.inner_lr, "first_order": self.first_order,
                "seconds": time.perf_counter() - t0, "final_query_loss": sum(losses[-tail:]) / tail,
                "final_query_accuracy": sum(accs[-tail:]) / tail,
                "batch_norm": "batch statistics (transductive)"}

    def _adapt(self, model: Classifier, task: Task, device: torch.device) -> Classifier:
        if not isinstance(task.x_train, Tensor):
            raise ConfigError(f"maml needs in-memory tensors; task {task.name!r} has another input type")
        head = model.head
        model, report = adapt_to_task(model, task, None, "new")
        if head is not None and model.output_layer.out_features == head[-1].out_features:
            model.head = head
            self.info_["head_init"] = "meta-learned"
        else:
            with torch.no_grad():
                model.output_layer.weight.zero_()
                model.output_layer.bias.zero_()
            self.info_["head_init"] = "zero (the target's class count differs from meta_ways)"
        self.info_["adapted"] = report["adapted"]
        self.info_["head"] = "new"  # a head for the target's classes (initialized as head_init says)
        model = use_batch_statistics(model.to(device))  # type: ignore[assignment]
        model.train()
        xs, ys = task.x_train.to(device), task.y_train.to(device)
        params = {n: p.detach() for n, p in model.named_parameters()}
        first = None
        for step in range(self.adapt_steps):
            params = {n: p.requires_grad_(True) for n, p in params.items()}
            loss = F.cross_entropy(functional_call(model, params, (xs,)), ys)
            first = check_inner_loss(loss, first, step, self.inner_lr, "maml adaptation")
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            params = {n: (p if g is None else p - self.inner_lr * g).detach()
                      for (n, p), g in zip(params.items(), grads, strict=True)}
        with torch.no_grad():
            for n, p in model.named_parameters():
                if not torch.isfinite(params[n]).all():
                    raise TrainingDivergedError(
                        f"maml adaptation diverged: parameter {n} is not finite (inner_lr={self.inner_lr}); "
                        "lower inner_lr")
                p.copy_(params[n])
            _support_running_stats(model, xs)
        model.eval()
        return model


def _support_running_stats(model: nn.Module, x: Tensor) -> None:
    """Set every batch norm's running statistics to those of the support set ``x``."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [(m, m.__class__) for m in bns]
    for m in bns:
        m.__class__ = nn.BatchNorm2d if isinstance(m, nn.BatchNorm2d) else nn.BatchNorm1d
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass gives the support statistics
    was = model.training
    model.train()
    model(x)
    model.train(was)
    for m, cls in saved:
        m.__class__ = cls
        m.momentum = 0.1
