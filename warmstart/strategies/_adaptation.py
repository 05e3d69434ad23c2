"""The shared training loop of the domain-adaptation strategies (source_only, dann, cdan, mmd, coral).

Every step draws a labelled source batch and an unlabelled target-pool batch of
the same size (and, when the target has a few labels, a batch of those), runs
them through the model in one forward pass, and minimizes

    CE(source) [+ target_label_weight · CE(target support)] + trade_off · L_adapt

where ``L_adapt`` is the method's domain loss on the features (and, for CDAN, the
predictions). ``trade_off=0`` switches it off entirely, which makes any of these
methods exactly ``source_only`` (same seed, same steps, same model). The learning
rate is annealed as in DANN (Ganin et al., JMLR 2016):
μ_p = μ₀ / (1 + 10·p)^0.75, p the training progress. An "epoch" here is
``iters_per_epoch`` steps; after each one the label-free selection scores of
:mod:`warmstart.strategies._selection` are computed and ``select_by`` picks the
epoch whose weights are kept. The target's labels, other than the few-shot
support, are never read.

The model starts from the ``--source`` checkpoint when one is given, else from a
model pretrained on the source task first (:meth:`warmstart.source.Source.checkpoint`:
announced on stderr, cached for the next run).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier
from warmstart.engine.augment import augment_images
from warmstart.engine.callbacks import Callback
from warmstart.engine.device import resolve_device
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import StepInfo, Trainer
from warmstart.errors import ConfigError, IncompatibleError
from warmstart.strategies._base import Strategy
from warmstart.strategies._bn import adapt_bn_statistics
from warmstart.strategies._params import Param
from warmstart.strategies._selection import SELECTORS, SelectionScores
from warmstart.strategies._transfer import source_model
from warmstart.tasks._task import Task, n_items, take

ADAPTATION_PARAMS: dict[str, Param] = {
    "epochs": Param(10, 1, 100_000, help="evaluations of the selection scores (each after iters_per_epoch steps)"),
    "iters_per_epoch": Param(40, 1, 10_000_000, help="training steps per epoch"),
    "batch_size": Param(64, 2, 100_000, help="source and target-pool examples per step (each)"),
    "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-4, 1e-2), help="initial learning rate"),
    "min_steps": Param(0, 0, 10_000_000, help="unused: the step count is epochs x iters_per_epoch"),
    "lr_schedule": Param("dann", choices=("dann", "cosine", "constant"),
                         help="dann: lr / (1 + 10 p)^0.75 (Ganin et al. 2016)"),
    "trade_off": Param(1.0, 0.0, 1000.0, search=(0.1, 10.0), log=True, help="weight of the adaptation loss"),
    "backbone_lr_mult": Param(0.1, 0.0, 100.0, help="backbone lr / lr (head and discriminator train at lr; "
                              "0.1 as in TLlib's DANN/CDAN recipes)"),
    "target_entropy": Param(0.0, 0.0, 100.0, help="weight of entropy minimization on target predictions "
                            "(Grandvalet & Bengio 2005); 0: off"),
    "target_label_weight": Param(1.0, 0.0, 100.0, help="weight of the target support labels' loss (shots > 0)"),
    "select_by": Param("dev", choices=tuple(SELECTORS),
                       help="label-free score that picks the epoch: source_accuracy, entropy, infomax, dev, last"),
    "score_samples": Param(256, 20, 1_000_000, help="examples per set used by the selection scores"),
    "bn_adapt": Param("none", choices=("pool", "none"),
                      help="pool: re-estimate batch-norm statistics of the picked model on the target pool "
                           "(AdaBN, Li et al. 2017) after selection"),
    "keep_candidates": Param(False, help="keep every evaluated epoch's weights in candidates_ (for analysis)"),
}


class _Cycler:
    """Endless batches of indices over ``n`` items: successive seeded permutations."""

    def __init__(self, n: int, batch: int, gen: torch.Generator) -> None:
        self.n, self.batch, self.gen = n, batch, gen
        self.perm = torch.randperm(n, generator=gen)
        self.pos = 0

    def next(self) -> Tensor:
        out: list[Tensor] = []
        need = self.batch
        while need > 0:
            if self.pos >= self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
            chunk = self.perm[self.pos:self.pos + need]
            self.pos += len(chunk)
            need -= len(chunk)
            out.append(chunk)
        return torch.cat(out)


def check_pair(source: Task, target: Task, strategy: str) -> None:
    """Refuse pairs these closed-set methods cannot adapt.

    Raises:
        IncompatibleError: class sets or modalities differ, or tabular widths differ.
        ConfigError: the target has no unlabelled pool.
    """
    if set(source.classes) != set(target.classes):
        only_s = [c for c in source.classes if c not in target.classes]
        only_t = [c for c in target.classes if c not in source.classes]
        raise IncompatibleError(
            f"{strategy} is closed-set domain adaptation: source task {source.name!r} and target "
            f"{target.name!r} need the same classes; only in source: {only_s}, only in target: {only_t}")
    if source.modality != target.modality:
        raise IncompatibleError(f"{strategy}: a {source.modality} source task cannot be adapted to "
                                f"{target.modality} task {target.name!r}")
    if source.modality == "tabular" and source.input_shape != target.input_shape:
        raise IncompatibleError(f"{strategy}: source task {source.name!r} has {source.input_shape[0]} features, "
                                f"target {target.name!r} has {target.input_shape[0]}")
    if not target.has_unlabeled:
        raise ConfigError(
            f"{strategy} needs an unlabelled target pool, but task {target.name!r} has none; use --shots K "
            "(the rest of its training split becomes the pool) or give a task with unlabelled data")


def match_inputs(x: Any, target: Task) -> tuple[Any, list[str]]:
    """Bring source images to the target's channels and resolution (so one model sees both)."""
    if not isinstance(x, Tensor) or x.dim() != 4 or target.modality != "image":
        return x, []
    notes = []
    c, h, w = target.input_shape
    if x.shape[1] != c:
        if x.shape[1] == 1:
            x = x.repeat(1, c, 1, 1)
        elif c == 1:
            x = x.mean(1, keepdim=True)
        else:
            raise IncompatibleError(f"cannot map {x.shape[1]}-channel source images to {c} channels")
        notes.append(f"source images converted from {x.shape[1] if c != 1 else 'colour'} to {c} channels")
    if tuple(x.shape[-2:]) != (h, w):
        notes.append(f"source images resized from {x.shape[2]}x{x.shape[3]} to {h}x{w}")
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
    return x, notes


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


class AdaptationStrategy(Strategy):
    """Base of the domain-adaptation strategies: the shared loop; subclasses add a domain loss.

    Subclasses override :meth:`make_criterion` (build the loss module, or None) and
    :meth:`adaptation_loss`.
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
        """The domain loss of one step (features f, logits z of the source and target halves)."""
        return None

    # ------------------------------------------------------------------ loop
    def _build(self, target: Task, source: Any) -> tuple[Classifier, dict[str, Any]]:
        # pretrain first (a source given only as a task), so a cached and a fresh pretraining
        # leave the same random state for the head and the loop
        source.checkpoint(self.progress)
        seed_everything(self.seed)
        model, report = source_model(target, source, "auto", progress=self.progress)
        report["init"] = (f"source checkpoint {source.path}" if source.path is not None else
                          f"source model pretrained on {source.task_name} ({source.pretrain_epochs} epochs, cached)")
        return model, report

    def _fit(self, task: Task, source: Any) -> None:
        if source is None:
            raise ConfigError(f"{self.name} trains on source data: give --source-task NAME")
        src = source.task()
        check_pair(src, task, self.name)
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
        # trade_off 0 switches the method off entirely (no module, no forward pass, no random draw):
        # the run is then exactly source_only's
        self.criterion_ = self.make_criterion(model.feature_dim, task.n_classes) if self.trade_off > 0 else None

        cfg = self.train_config(epochs=self.epochs, min_steps=0, augment="none",
                                schedule="cosine" if self.lr_schedule == "cosine" else "constant")
        device = resolve_device(cfg.device)
        head = {id(p) for p in model.head.parameters()} if model.head is not None else set()
        params = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in head],
                   "lr": self.lr * self.backbone_lr_mult},
                  {"params": [p for p in model.parameters() if p.requires_grad and id(p) in head], "lr": self.lr}]
        if self.criterion_ is not None:
            self.criterion_.to(device)
            crit = [p for p in self.criterion_.parameters() if p.requires_grad]
            if crit:
                params.append({"params": crit, "lr": self.lr})
        trainer = Trainer(model, cfg, param_groups=params, step_fn=self._step_fn(task, xs, ys),
                          monitor=SELECTORS[self.select_by][0], mode=SELECTORS[self.select_by][1])
        self._trainer = trainer
        scores = SelectionScores(xs, xs_val, ys_val, task.x_unlabeled, samples=self.score_samples,
                                 seed=self.seed, device=trainer.device)
        self.candidates_: list[dict[str, Any]] = []
        self._target_pool = task.x_unlabeled
        trainer.callbacks.append(_KeepCandidates(self, self.keep_candidates))
        n = self.iters_per_epoch * self.batch_size
        dummy = torch.zeros(n, dtype=torch.long)
        self.history_ = trainer.fit(dummy, dummy, val=scores, eval_every=1, description=self.name)
        self.model_ = model
        self.info_["bn_adapt"] = self._adabn(model, task)
        self.info_.update({
            "select_by": self.select_by,
            "selected_epoch": self.history_.best_epoch,
            "selected_score": self.history_.best_value,
            "steps": self.history_.steps,
            "target_labels_used": len(task.y_train),
            "source_task": src.name,
        })

    def _step_fn(self, task: Task, xs: Any, ys: Tensor) -> Any:
        gen = torch.Generator().manual_seed(self.seed + 17)
        bs = self.batch_size
        src_cyc = _Cycler(n_items(xs), bs, gen)
        tgt_cyc = _Cycler(n_items(task.x_unlabeled), bs, gen)
        n_sup = len(task.y_train)
        sup_cyc = _Cycler(n_sup, min(bs, n_sup), gen) if n_sup > 0 and self.target_label_weight > 0 else None
        image = task.modality == "image" and isinstance(xs, Tensor) and xs.dim() == 4
        augment = self._params["augment"]
        schedule = self.lr_schedule

        def prep(x: Any, info: StepInfo) -> Any:
            if isinstance(x, Tensor):
                x = x.to(info.device, non_blocking=True)
                if image and augment != "none":
                    x = augment_images(x, augment, info.generator)
            return x

        def step(model: nn.Module, _xb: Any, _yb: Tensor, info: StepInfo) -> Tensor:
            if schedule == "dann":
                factor = (1.0 + 10.0 * info.progress) ** -0.75
                for g in self._trainer.optimizer.param_groups:
                    g["lr"] = g["initial_lr"] * factor
            i_s, i_t = src_cyc.next(), tgt_cyc.next()
            parts = [prep(take(xs, i_s), info), prep(take(task.x_unlabeled, i_t), info)]
            y_s = ys[i_s].to(info.device)
            if sup_cyc is not None:
                i_l = sup_cyc.next()
                parts.append(prep(take(task.x_train, i_l), info))
                y_l = task.y_train[i_l].to(info.device)
            x = torch.cat(parts) if isinstance(parts[0], Tensor) else [item for part in parts for item in part]
            f = model.features(x)  # type: ignore[operator]
            z = model.head(f)  # type: ignore[operator]
            ns, nt = len(i_s), len(i_t)
            loss = F.cross_entropy(z[:ns], y_s, label_smoothing=self.label_smoothing)
            if sup_cyc is not None:
                loss = loss + self.target_label_weight * F.cross_entropy(z[ns + nt:], y_l)
            if self.trade_off > 0:
                extra = self.adaptation_loss(f[:ns], f[ns:ns + nt], z[:ns], z[ns:ns + nt], info.progress)
                if extra is not None:
                    loss = loss + self.trade_off * extra
            if self.target_entropy > 0:
                p_t = torch.softmax(z[ns:ns + nt], 1)
                loss = loss - self.target_entropy * (p_t * torch.log(p_t + 1e-8)).sum(1).mean()
            return loss

        return step

    def _adabn(self, model: nn.Module, task: Task) -> str:
        if self.bn_adapt != "pool":
            return "none"
        used = adapt_bn_statistics(model, task.x_unlabeled, max_items=2000, seed=self.seed)
        return f"AdaBN on {used} target-pool inputs" if used else "none (no batch norm)"

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
        if self.bn_adapt == "pool":
            adapt_bn_statistics(model, self._target_pool, max_items=2000, seed=self.seed)
        return model
