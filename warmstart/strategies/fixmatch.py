"""``fixmatch``: semi-supervised transfer from a few labels and an unlabelled pool (Sohn et al.,
NeurIPS 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence"),
starting from the source model.

Each step: cross-entropy on a batch of B labelled support examples (``batch_size``,
drawn again and again from the support set; weak views) plus λ_u (``lambda_u``, 1)
times the masked pseudo-label loss on μB pool examples (μ = ``unlabeled_ratio``, 3 by
default where the paper uses 7: a CPU-sized step): the weak view's (shift ≤ 12.5 %, no
flip) confident prediction (max p ≥ τ = ``threshold``, 0.95) is the target of the strong
view (a RandAugment-like pair of operations + cutout). All views go through one forward
pass, as in the paper. SGD with Nesterov momentum 0.9, weight decay 5e-4, and the paper's
schedule lr · cos(7πk / 16K). Options: FlexMatch's class-wise thresholds
(``thresholds=flexmatch``, Zhang et al., NeurIPS 2021) and distribution alignment
(``dist_align``, Berthelot et al., ReMixMatch, ICLR 2020: weak-view probabilities scaled by
the support's class frequencies over a running mean of the predictions, then renormalized).

The model is the source model adapted to the task (its classifier reused when the class
names match, else a new one); a source given only as a task is pretrained first. The
pool's labels are never read: the pool enters as inputs only.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.engine.augment import strong_view, weak_view
from warmstart.engine.trainer import StepInfo, Trainer
from warmstart.errors import ConfigError
from warmstart.losses.fixmatch import FlexMatchThresholds, fixmatch_loss
from warmstart.strategies._adaptation_data import Cycler, check_pool
from warmstart.strategies._base import Strategy
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import HEAD_PARAM, head_parameters
from warmstart.strategies._transfer import source_model
from warmstart.strategies.self_training import SEMI_PARAMS, require_images
from warmstart.tasks._task import Task, n_items, take


class FixMatch(Strategy):
    """FixMatch from the source model: support labels + pseudo-labelled strong views of the pool."""

    name = "fixmatch"
    paper = "Sohn et al., FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence, NeurIPS 2020"
    summary = "few labels + unlabelled pool: confident weak-view pseudo-labels teach strong views"
    needs_source = True
    needs_unlabeled = True
    params: ClassVar[dict[str, Param]] = {
        **SEMI_PARAMS,
        "iterations": Param(1000, 1, 10_000_000, search=(300, 3000), log=True, help="training steps in all"),
        "epochs": Param(5, 1, 100_000, help="logged epochs (the steps are split evenly; the last weights are kept)"),
        "batch_size": Param(32, 1, 100_000, help="labelled examples per step (B); the pool gives mu x B"),
        "lr": Param(0.01, 1e-7, 10.0, log=True, search=(1e-3, 3e-2), help="learning rate (backbone)"),
        "head_lr_mult": Param(1.0, 0.01, 1000.0, log=True, search=(1.0, 10.0),
                              help="classifier learning rate / lr"),
        "weight_decay": Param(5e-4, 0.0, 1.0, search=(1e-5, 1e-2), log=True, help="weight decay (SGD, L2)"),
        "lambda_u": Param(1.0, 0.0, 100.0, search=(0.3, 3.0), log=True, help="weight of the pseudo-label loss"),
        "dist_align": Param(False, help="distribution alignment of the weak-view predictions (ReMixMatch)"),
        "head": HEAD_PARAM,
        "min_steps": Param(0, 0, 10_000_000, help="unused: the step count is set by iterations"),
    }

    def _fit(self, task: Task, source: Any) -> None:
        if source is None:
            raise ConfigError("fixmatch starts from a source model: give --source PATH or --source-task NAME")
        require_images(task, self.name)
        mu_b = int(self.batch_size * self.unlabeled_ratio)
        check_pool(task, self.name, mu_b)
        torch.manual_seed(self.seed)
        model, report = source_model(task, source, self.head, progress=self.progress)
        self.info_.update(report)
        per_epoch = max(1, math.ceil(self.iterations / self.epochs))
        cfg = self.train_config(epochs=self.epochs, min_steps=0, augment="none", optimizer="sgd", momentum=0.9,
                                schedule="constant")
        head = {id(p) for p in head_parameters(model)}
        groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in head],
                   "lr": self.lr},
                  {"params": [p for p in model.parameters() if p.requires_grad and id(p) in head],
                   "lr": self.lr * self.head_lr_mult}]
        groups = [g for g in groups if g["params"]]
        self._kept = [0, 0]
        trainer = Trainer(model, cfg, param_groups=groups, step_fn=self._step_fn(task, model, mu_b))
        self._trainer = trainer
        dummy = torch.zeros(per_epoch * self.batch_size, dtype=torch.long)
        self.history_ = trainer.fit(dummy, dummy, val=None, description=self.name)
        self.model_ = model
        self.info_.update({
            "steps": self.history_.steps,
            "unlabeled_batch": mu_b,
            "pseudo_label_rate": self._kept[0] / max(1, self._kept[1]),
            "seconds_per_1000_steps": 1000.0 * sum(e["seconds"] for e in self.history_.epochs)
            / max(1, self.history_.steps),
            "target_labels_used": len(task.y_train),
        })

    def _step_fn(self, task: Task, model: nn.Module, mu_b: int) -> Any:
        gen = torch.Generator().manual_seed(self.seed + 17)
        n_lab, pool = len(task.y_train), task.x_unlabeled
        lab_cyc, pool_cyc = Cycler(n_lab, self.batch_size, gen), Cycler(n_items(pool), mu_b, gen)
        flex = (FlexMatchThresholds(n_items(pool), task.n_classes, self.threshold)
                if self.thresholds == "flexmatch" else None)
        # distribution alignment: the support's class frequencies / a running mean of the predictions
        p_target = torch.bincount(task.y_train, minlength=task.n_classes).float()
        p_target = p_target / p_target.sum()
        state: dict[str, Tensor] = {}

        def step(m: nn.Module, _xb: Any, _yb: Tensor, info: StepInfo) -> Tensor:
            factor = math.cos(7 * math.pi * info.progress / 16)
            for g in self._trainer.optimizer.param_groups:
                g["lr"] = g["initial_lr"] * factor
            i_l = lab_cyc.next()
            x_l = weak_view(take(task.x_train, i_l).to(info.device), info.generator, max_shift=self.weak_shift,
                            flip=self.flip)
            y_l = task.y_train[i_l].to(info.device)
            if self.lambda_u <= 0:  # the pool switched off entirely: supervised fine-tuning on the support
                return F.cross_entropy(model(x_l), y_l, label_smoothing=self.label_smoothing)
            i_u = pool_cyc.next()
            x_u = take(pool, i_u).to(info.device)
            views = [x_l, weak_view(x_u, info.generator, max_shift=self.weak_shift, flip=self.flip),
                     strong_view(x_u, info.generator, n_ops=self.strong_ops, cutout=self.cutout)]
            z = model(torch.cat(views))
            nl = len(i_l)
            z_l, z_w, z_s = z[:nl], z[nl:nl + mu_b], z[nl + mu_b:]
            loss = F.cross_entropy(z_l, y_l, label_smoothing=self.label_smoothing)
            z_w = z_w.detach()
            if self.dist_align:
                p = torch.softmax(z_w.float(), 1)
                mean = p.mean(0)
                state["p_model"] = mean if "p_model" not in state else 0.999 * state["p_model"] + 0.001 * mean
                p = p * (p_target.to(p.device) / state["p_model"].clamp_min(1e-6))
                z_w = torch.log(p / p.sum(1, keepdim=True) + 1e-12)
            tau: float | Tensor = self.threshold
            if flex is not None:
                flex.update(i_u, z_w)
                tau = flex.thresholds().to(z_w.device)
            unsup, mask, _ = fixmatch_loss(z_w, z_s, tau)
            self._kept[0] += int(mask.sum())
            self._kept[1] += len(mask)
            return loss + self.lambda_u * unsup

        return step
