"""The shared training loop of the domain-adaptation strategies (source_only, dann, cdan, mmd, coral, mcc,
self_training).

The recipe follows TLlib's (Jiang et al., "Transferability in Deep Learning", 2022) at its
defaults:

* the model starts from the ``--source`` checkpoint when one is given, else from a model
  pretrained on the source task first (:meth:`warmstart.source.Source.checkpoint`:
  announced on stderr, cached for the next run), and **keeps the source classifier**
  (``bottleneck=0``); the adaptation losses act on its pooled features. TLlib's
  **bottleneck** (a new Linear–BatchNorm–ReLU and a new linear classifier,
  ``bottleneck=256``; the losses then act on the bottleneck's output) is an option, not
  the default: TLlib trains its head from scratch anyway, but here the source model's
  classifier already fits the shared classes, and a new head trained for 3,000 steps lost
  most of the transfer. On a pair outside the benchmark (``mnist5k-a → mnist5k-b-rotated``,
  seed 0, label-free pick) source_only scored 0.232 with the bottleneck and 0.506 without,
  mcc 0.450 and 0.628; on ``mnist5k-a → mnist5k-b-scaled`` source_only 0.290 and 0.848;
* SGD, momentum 0.9, Nesterov, weight decay 1e-3, lr μ₀ = 0.01 for the new layers and
  ``backbone_lr_mult``·μ₀ for the backbone, annealed as in DANN (Ganin et al., JMLR 2016):
  μ_p = μ₀ / (1 + 10·p)^0.75, p the training progress;
* ``iterations`` steps (3,000), each drawing a labelled source batch and an unlabelled
  target-pool batch of the same size (``batch_size`` each; self-training's unlabelled
  batch is ``unlabeled_ratio`` times larger) and, when the target has a few labels, a batch
  of those;
* **batch norm per domain** (``domain_bn="separate"``): the source batch and the target
  batch go through the model in separate forward passes, so each is normalized with its
  own domain's batch statistics during training; at the end (and before every selection
  evaluation) the running statistics are re-estimated on the target pool (AdaBN, Li et
  al. 2017, ``bn_adapt="pool"``). Statistics cannot flip a sign: an inverted target needs
  the features themselves to adapt, which is what the adaptation losses do;
* optionally, **source images augmented to look like the target** (``source_augment``:
  an operation of :mod:`warmstart.strategies._source_augment`, or ``auto``: the ones a
  greedy search on a domain divergence to the pool chooses — the log-loss divergence by
  default, ``source_augment_divergence`` —, reported in
  ``info_["source_augment"]``), applied to each source batch before ``augment``.

The loss of one step is

    CE(source) [+ target_label_weight · CE(target support)] + trade_off · L_adapt
    [+ mcc · L_mcc(target)] [+ target_entropy · H(target)]

where ``L_adapt`` is the method's loss. ``trade_off=0`` switches it off entirely, which
makes any of these methods exactly ``source_only`` (same seed, same steps, same model).
The steps are split into ``epochs`` evaluations; after each the label-free selection
scores of :mod:`warmstart.strategies._selection` are computed (on the model as it would be
returned, AdaBN included) and ``select_by`` picks the epoch whose weights are kept. By
default the last (``select_by="last"``), and then no epoch is scored at all unless
``keep_candidates`` asks for the scores: they would change nothing, and on MNIST-sized
pairs on a CPU core scoring every 50-step epoch cost as much time as its training. On two pairs outside the benchmarks
(``mnist5k-a → mnist5k-b-rotated`` and ``→ mnist5k-b-scaled``, seed 0, nine runs of
source_only, mcc, self_training and their combinations) the last epoch scored 0.799 on average
and DEV's pick (You et al. 2019) 0.754; DEV picked the better epoch in two of the nine. The
target's labels, other than the few-shot support, are never read.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier, HeadSpec
from warmstart.engine.augment import augment_images
from warmstart.engine.callbacks import Callback
from warmstart.engine.device import resolve_device
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import StepInfo, Trainer
from warmstart.errors import ConfigError
from warmstart.losses.mcc import mcc_loss
from warmstart.strategies._adaptation_data import Cycler, check_pair, check_pool, match_inputs
from warmstart.strategies._base import Strategy
from warmstart.strategies._bn import adapt_bn_statistics
from warmstart.strategies._params import Param
from warmstart.strategies._selection import SELECTORS, SelectionScores
from warmstart.strategies._source_augment import OPS, apply_ops, choose_ops
from warmstart.strategies._transfer import source_model
from warmstart.tasks._task import Task, n_items, take

__all__ = ["ADAPTATION_PARAMS", "MCC_PARAMS", "AdaptationStrategy", "check_pair", "match_inputs"]

ADAPTATION_PARAMS: dict[str, Param] = {
    "iterations": Param(3000, 1, 10_000_000, search=(1000, 6000), log=True,
                        help="training steps in all (split into `epochs` evaluations); ignored when "
                             "iters_per_epoch > 0"),
    "epochs": Param(10, 1, 100_000, help="evaluations of the selection scores (candidate checkpoints)"),
    "iters_per_epoch": Param(0, 0, 10_000_000,
                             help="training steps per evaluation; 0: iterations / epochs (rounded up)"),
    "batch_size": Param(32, 2, 100_000, help="source and target-pool examples per step (each)"),
    "lr": Param(0.01, 1e-7, 10.0, log=True, search=(1e-3, 3e-2), help="initial learning rate of the new layers"),
    "optimizer": Param("sgd", choices=("sgd", "adamw"), help="sgd: momentum 0.9, Nesterov (TLlib's recipe)"),
    "weight_decay": Param(1e-3, 0.0, 1.0, search=(1e-5, 1e-2), log=True, help="weight decay"),
    "min_steps": Param(0, 0, 10_000_000, help="unused: the step count is set by iterations"),
    "lr_schedule": Param("dann", choices=("dann", "cosine", "constant"),
                         help="dann: lr / (1 + 10 p)^0.75 (Ganin et al. 2016)"),
    "trade_off": Param(1.0, 0.0, 1000.0, search=(0.1, 10.0), log=True, help="weight of the adaptation loss"),
    "backbone_lr_mult": Param(1.0, 0.0, 100.0, search=(0.1, 1.0), log=True,
                              help="backbone lr / lr (TLlib: 0.1 for an ImageNet backbone, 1 when trained "
                                   "from scratch)"),
    "bottleneck": Param(0, 0, 65536, help="width of the Linear-BN-ReLU bottleneck before a new classifier; "
                        "0: keep the source classifier on the pooled features"),
    "domain_bn": Param("separate", choices=("separate", "joint"),
                       help="separate: source and target batches through batch norm in separate passes "
                            "(domain-specific statistics); joint: one pass over both"),
    "target_entropy": Param(0.0, 0.0, 100.0, help="weight of entropy minimization on target predictions "
                            "(Grandvalet & Bengio 2005); 0: off"),
    "target_label_weight": Param(1.0, 0.0, 100.0, help="weight of the target support labels' loss (shots > 0)"),
    "select_by": Param("last", choices=tuple(SELECTORS),
                       help="label-free score that picks the epoch: source_accuracy, entropy, infomax, dev, last"),
    "score_samples": Param(256, 20, 1_000_000, help="examples per set used by the selection scores"),
    "bn_adapt": Param("pool", choices=("pool", "none"),
                      help="pool: re-estimate batch-norm statistics on the target pool (AdaBN, Li et al. 2017) "
                           "before every selection evaluation and at the end"),
    "keep_candidates": Param(False, help="keep every evaluated epoch's weights in candidates_ (for analysis)"),
    "source_augment": Param("auto", choices=("auto", "none", *OPS),
                            help="augment source images to look like the target: auto chooses operations by "
                                 "a domain divergence to the pool (source_augment_divergence; images only)"),
    "source_augment_divergence": Param("logloss", choices=("logloss", "pad"),
                                       help="what source_augment=auto lowers: logloss (the domain classifier's "
                                            "held-out log-loss; does not saturate) or pad (proxy A-distance)"),
}

#: MCC added to another method's loss (dann, cdan): Jin et al., ECCV 2020
MCC_PARAMS: dict[str, Param] = {
    "mcc": Param(0.0, 0.0, 100.0, help="weight of minimum class confusion on target predictions "
                 "(Jin et al. 2020) added to this method's loss; 0: off"),
    "mcc_temperature": Param(2.5, 0.01, 100.0, help="temperature T of MCC's rescaled softmax"),
}

AdaBN_ITEMS = 2000  # target-pool inputs AdaBN re-estimates the statistics on


class _KeepCandidates(Callback):
    def __init__(self, owner: AdaptationStrategy, keep_weights: bool) -> None:
        self.owner, self.keep = owner, keep_weights

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        if not any(k.startswith("sel_") for k in logs):
            return
        entry: dict[str, Any] = {k: v for k, v in logs.items() if k.startswith("sel_") or k == "epoch"}
        if self.keep:
            entry["state"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self.owner.candidates_.append(entry)


def split_head(model: Classifier) -> tuple[nn.Module, nn.Module]:
    """(bottleneck, classifier): the head's layers before its last Linear (identity when none), and it."""
    assert model.head is not None
    return model.head[:-1], model.head[-1]


class AdaptationStrategy(Strategy):
    """Base of the domain-adaptation strategies: the shared loop; subclasses add a loss.

    Subclasses override :meth:`make_criterion` (build the loss module, or None) and
    :meth:`adaptation_loss` (a loss on features and logits), or :meth:`target_loss`
    (a loss that needs the raw target batch, e.g. a second augmented view).
    """

    needs_source_task: ClassVar[bool] = True
    needs_unlabeled: ClassVar[bool] = True
    needs_labels: ClassVar[bool] = False  # source labels + the target's unlabelled pool suffice
    params: ClassVar[dict[str, Param]] = ADAPTATION_PARAMS
    criterion_: Any  # the adaptation loss module built by make_criterion (None for source_only)

    # ------------------------------------------------------------------ hooks
    def make_criterion(self, feature_dim: int, n_classes: int) -> nn.Module | None:
        """The adaptation loss module (its parameters are trained too), or None."""
        return None

    def adaptation_loss(self, f_s: Tensor, f_t: Tensor, z_s: Tensor, z_t: Tensor, progress: float) -> Tensor | None:
        """The domain loss of one step (bottleneck features f, logits z of the source and target batches)."""
        return None

    def target_loss(self, forward: Any, x_t: Tensor, index: Tensor, z_t: Tensor, info: StepInfo) -> Tensor | None:
        """A loss on the raw (unaugmented) target batch ``x_t`` (pool indices ``index``) whose view
        :meth:`target_view` gave logits ``z_t``; ``forward(x)`` returns (features, logits)."""
        return None

    def target_view(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """The augmented view of a target batch the shared loop trains on (default: ``augment``)."""
        return augment_images(x, self.augment, generator)

    def unlabeled_batch(self) -> int:
        """Target-pool examples per step (``batch_size``: equal to the source batch)."""
        return int(self.batch_size)

    # ------------------------------------------------------------------ loop
    def _build(self, target: Task, source: Any) -> tuple[Classifier, dict[str, Any]]:
        # pretrain first (a source given only as a task), so a cached and a fresh pretraining
        # leave the same random state for the head and the loop
        source.checkpoint(self.progress)
        seed_everything(self.seed)
        model, report = source_model(target, source, "auto", progress=self.progress)
        report["init"] = (f"source checkpoint {source.path}" if source.path is not None else
                          f"source model pretrained on {source.task_name} ({source.pretrain_epochs} epochs, cached)")
        if self.bottleneck > 0:
            model.replace_head(target.n_classes, HeadSpec(hidden=(self.bottleneck,), activation="relu", norm=True,
                                                          norm_layer="batch"))
            report["head"] = "new"
            report["bottleneck"] = f"Linear-BN-ReLU {self.bottleneck} + new linear classifier"
        return model, report

    def _choose_source_ops(self, model: Classifier, xs: Any, task: Task, device: torch.device) -> list[str]:
        """The :mod:`~warmstart.strategies._source_augment` operations the source batches go through."""
        spec = self.source_augment
        if spec == "none":
            return []
        if task.modality != "image" or not isinstance(xs, Tensor) or xs.dim() != 4:
            self.info_["source_augment"] = "none (the inputs are not images)"
            return []
        if spec != "auto":
            self.info_["source_augment"] = spec
            return [spec]
        pool = task.x_unlabeled
        if not (isinstance(pool, Tensor) and pool.shape[1:] == xs.shape[1:]):
            self.info_["source_augment"] = "none (auto needs the pool in memory, in the source's image format)"
            return []
        choice = choose_ops(model.to(device), xs, pool, seed=self.seed, device=device,
                            divergence=self.source_augment_divergence)
        self.info_["source_augment"] = choice.describe()
        return choice.ops

    def _steps_per_epoch(self) -> int:
        if self.iters_per_epoch > 0:
            return int(self.iters_per_epoch)
        return max(1, math.ceil(self.iterations / self.epochs))

    def _fit(self, task: Task, source: Any) -> None:
        if source is None:
            raise ConfigError(f"{self.name} trains on source data: give --source-task NAME")
        src = source.task()
        check_pair(src, task, self.name)
        check_pool(task, self.name, self.unlabeled_batch())
        if src.x_val is None or src.y_val is None:
            raise ConfigError(f"{self.name}: source task {src.name!r} needs a labelled validation split")
        # source labels in the target's class order
        remap = torch.tensor([task.classes.index(c) for c in src.classes])
        xs, notes = match_inputs(src.x_train, task)
        xs_val, _ = match_inputs(src.x_val, task)
        ys, ys_val = remap[src.y_train], remap[src.y_val]
        model, report = self._build(task, source)
        report["adapted"] = list(report.get("adapted", [])) + notes
        self.info_.update(report)
        classifier = split_head(model)[1]
        assert isinstance(classifier, nn.Linear)
        # trade_off 0 switches the method off entirely (no module, no forward pass, no random draw):
        # the run is then exactly source_only's
        self.criterion_ = self.make_criterion(classifier.in_features, task.n_classes) if self.trade_off > 0 else None

        cfg = self.train_config(epochs=self.epochs, min_steps=0, augment="none", optimizer=self.optimizer,
                                momentum=0.9, schedule="cosine" if self.lr_schedule == "cosine" else "constant")
        device = resolve_device(cfg.device)
        self._source_ops = self._choose_source_ops(model, xs, task, device)
        new = {id(p) for p in model.head.parameters()} if model.head is not None else set()
        params = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in new],
                   "lr": self.lr * self.backbone_lr_mult},
                  {"params": [p for p in model.parameters() if p.requires_grad and id(p) in new], "lr": self.lr}]
        if self.criterion_ is not None:
            self.criterion_.to(device)
            crit = [p for p in self.criterion_.parameters() if p.requires_grad]
            if crit:
                params.append({"params": crit, "lr": self.lr})
        trainer = Trainer(model, cfg, param_groups=params, step_fn=self._step_fn(task, xs, ys),
                          monitor=SELECTORS[self.select_by][0], mode=SELECTORS[self.select_by][1])
        self._trainer = trainer
        self.candidates_: list[dict[str, Any]] = []
        self._target_pool = task.x_unlabeled
        evaluate = None
        if self.select_by != "last" or self.keep_candidates:  # "last" needs no score to pick
            scores = SelectionScores(xs, xs_val, ys_val, task.x_unlabeled, samples=self.score_samples,
                                     seed=self.seed, device=trainer.device)

            def evaluate(m: nn.Module) -> dict[str, float]:  # the model as it would be returned
                return scores(self._with_target_bn(m))

        trainer.callbacks.append(_KeepCandidates(self, self.keep_candidates))
        dummy = torch.zeros(self._steps_per_epoch() * self.batch_size, dtype=torch.long)
        self.history_ = trainer.fit(dummy, dummy, val=evaluate, eval_every=1, description=self.name)
        self.model_ = model
        used = self._adabn(model)
        self.info_["bn_adapt"] = (f"AdaBN on {used} target-pool inputs" if used else
                                  "none" if self.bn_adapt != "pool" else "none (no batch norm)")
        train_seconds = sum(e["seconds"] for e in self.history_.epochs)  # without the evaluations
        self.info_.update({
            "select_by": self.select_by,
            "selected_epoch": self.history_.best_epoch,
            "selected_score": self.history_.best_value,
            "steps": self.history_.steps,
            "seconds_per_1000_steps": 1000.0 * train_seconds / max(1, self.history_.steps),
            "domain_bn": self.domain_bn,
            "target_labels_used": len(task.y_train),
            "source_task": src.name,
        })

    def _step_fn(self, task: Task, xs: Any, ys: Tensor) -> Any:
        gen = torch.Generator().manual_seed(self.seed + 17)
        bs = self.batch_size
        pool = task.x_unlabeled
        src_cyc = Cycler(n_items(xs), bs, gen)
        tgt_cyc = Cycler(n_items(pool), self.unlabeled_batch(), gen)
        n_sup = len(task.y_train)
        sup_cyc = Cycler(n_sup, min(bs, n_sup), gen) if n_sup > 0 and self.target_label_weight > 0 else None
        image = task.modality == "image" and isinstance(xs, Tensor) and xs.dim() == 4
        augment = self._params["augment"]
        source_ops = self._source_ops
        schedule = self.lr_schedule
        mcc = float(self._params.get("mcc", 0.0))
        mcc_t = float(self._params.get("mcc_temperature", 2.5))
        cls = type(self)
        has_loss = (cls.adaptation_loss is not AdaptationStrategy.adaptation_loss
                    or cls.target_loss is not AdaptationStrategy.target_loss)  # source_only has none
        uses_target = (has_loss and self.trade_off > 0) or self.target_entropy > 0 or mcc > 0 or sup_cyc is not None
        separate = self.domain_bn == "separate"

        def to_dev(x: Any, info: StepInfo) -> Any:
            return x.to(info.device, non_blocking=True) if isinstance(x, Tensor) else x

        def prep(x: Any, info: StepInfo) -> Any:
            x = to_dev(x, info)
            return augment_images(x, augment, info.generator) if image and augment != "none" else x

        def cat(parts: list[Any]) -> Any:
            return torch.cat(parts) if isinstance(parts[0], Tensor) else [item for part in parts for item in part]

        def step(model: nn.Module, _xb: Any, _yb: Tensor, info: StepInfo) -> Tensor:
            if schedule == "dann":
                factor = (1.0 + 10.0 * info.progress) ** -0.75
                for g in self._trainer.optimizer.param_groups:
                    g["lr"] = g["initial_lr"] * factor
            bottleneck, classifier = split_head(model)  # type: ignore[arg-type]

            def forward(x: Any) -> tuple[Tensor, Tensor]:
                f = bottleneck(model.features(x))  # type: ignore[operator]
                return f, classifier(f)

            i_s = src_cyc.next()
            x_s, y_s = take(xs, i_s), ys[i_s].to(info.device)
            if source_ops:
                x_s = apply_ops(to_dev(x_s, info), source_ops, info.generator)
            x_s = prep(x_s, info)
            if not uses_target:
                return F.cross_entropy(forward(x_s)[1], y_s, label_smoothing=self.label_smoothing)
            i_t = tgt_cyc.next()
            raw_t = to_dev(take(pool, i_t), info)
            x_t = self.target_view(raw_t, info.generator) if image else raw_t
            tgt = [x_t]
            if sup_cyc is not None:
                i_l = sup_cyc.next()
                tgt.append(prep(take(task.x_train, i_l), info))
                y_l = task.y_train[i_l].to(info.device)
            ns, nt = len(i_s), len(i_t)
            if separate:
                f_s, z_s = forward(x_s)
                f_t, z_t = forward(cat(tgt))
            else:
                f, z = forward(cat([x_s, *tgt]))
                f_s, z_s, f_t, z_t = f[:ns], z[:ns], f[ns:], z[ns:]
            loss = F.cross_entropy(z_s, y_s, label_smoothing=self.label_smoothing)
            if sup_cyc is not None:
                loss = loss + self.target_label_weight * F.cross_entropy(z_t[nt:], y_l)
            f_t, z_t = f_t[:nt], z_t[:nt]
            if self.trade_off > 0:
                extra = self.adaptation_loss(f_s, f_t, z_s, z_t, info.progress)
                if extra is not None:
                    loss = loss + self.trade_off * extra
                extra = self.target_loss(forward, raw_t, i_t, z_t, info)
                if extra is not None:
                    loss = loss + self.trade_off * extra
            if mcc > 0:
                loss = loss + mcc * mcc_loss(z_t, mcc_t)
            if self.target_entropy > 0:
                p_t = torch.softmax(z_t, 1)
                loss = loss - self.target_entropy * (p_t * torch.log(p_t + 1e-8)).sum(1).mean()
            return loss

        return step

    def _with_target_bn(self, model: nn.Module) -> nn.Module:
        """``model`` with AdaBN statistics from the target pool (a copy), or ``model`` when bn_adapt is none."""
        if self.bn_adapt != "pool":
            return model
        out = copy.deepcopy(model)
        adapt_bn_statistics(out, self._target_pool, max_items=AdaBN_ITEMS, seed=self.seed)
        return out

    def _adabn(self, model: nn.Module) -> int:
        if self.bn_adapt != "pool":
            return 0
        return adapt_bn_statistics(model, self._target_pool, max_items=AdaBN_ITEMS, seed=self.seed)

    def candidate_model(self, index: int) -> nn.Module:
        """A copy of the model with the weights of evaluated epoch ``index`` (needs ``keep_candidates``).

        Raises:
            ConfigError: the strategy was not fitted with ``keep_candidates=True``.
        """
        self._check_fitted()
        if not self.candidates_ or "state" not in self.candidates_[index]:
            raise ConfigError(f"{self.name}: fit with keep_candidates=True to inspect candidate epochs")
        model = copy.deepcopy(self.model_)
        model.load_state_dict(self.candidates_[index]["state"])
        self._adabn(model)
        return model
