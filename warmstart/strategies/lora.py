"""``lora``: low-rank adapters on a frozen source model, through Hugging Face PEFT.

Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang, Chen, "LoRA: Low-Rank Adaptation of
Large Language Models", ICLR 2022. Each adapted layer keeps its source weight W₀
frozen and learns a low-rank update:

    W = W₀ + (α / r) · B A,   A ∈ R^{r×k} (random), B ∈ R^{d×r} (zero at the start)

so at step 0 the adapted model computes exactly what the source model computes.
Adapted layers: every ``nn.Linear`` and every 1×1, ungrouped ``nn.Conv2d`` of the
backbone (the attention and feed-forward projections of ``hf:`` encoders; the
pointwise convolutions, squeeze-excitation and linear layers of ``timm:`` models),
found by type, not by name (a backbone with none of them, a plain 3×3 CNN, gets
adapters on its ungrouped convolutions instead). The classifier head is trained fully. Everything else
(spatial and depthwise convolutions, norms, embeddings, batch-norm statistics:
``bn_mode`` defaults to ``frozen``) stays at its source value.

After training the updates are merged into the weights (PEFT's ``merge_and_unload``),
so ``model_`` is an ordinary :class:`~warmstart.backbones.classifier.Classifier`
that saves, loads and exports without PEFT; the adapters themselves are kept in
``adapters_`` (``{layer: (A, B)}``, with ``lora_scaling_`` = α / r) and their sizes in
``info_["lora"]``. PEFT is an optional dependency (extra ``lora``).

Defaults: r = 8, α = 16 (the paper's and PEFT's common setting), no adapter dropout,
lr = 1e-3 for the adapters and 10× that for the head.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier
from warmstart.errors import ConfigError, WarmstartError
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import HEAD_PARAM, SourceFinetune, head_parameters
from warmstart.tasks._task import Task

_EXTRA = 'pip install "warmstart[lora]"'


def import_peft() -> Any:
    """The ``peft`` module.

    Raises:
        WarmstartError: PEFT is not installed (names the ``lora`` extra).
    """
    try:
        import peft
    except ImportError:
        raise WarmstartError(f"the lora strategy needs Hugging Face PEFT; {_EXTRA}") from None
    return peft


def lora_targets(model: Classifier) -> tuple[list[str], str]:
    """Names (in ``model``) of the backbone layers LoRA adapts, and which rule chose them.

    ``linear+1x1``: every ``nn.Linear`` and 1×1 ungrouped ``nn.Conv2d``. A backbone with none
    of those (a plain 3×3 CNN such as ``smallcnn``) falls back to ``conv``: every ungrouped
    ``nn.Conv2d`` (PEFT's conv adapter: A has the layer's kernel, B is 1×1).

    Layers that a timm adapter module calls through the wrapped timm model rather than as its
    own child (direct children of its stage and pool wrappers) are skipped: an adapter put
    there would never run.
    """
    from warmstart.backbones.timm_adapter import _ModelCall

    parents = dict(model.named_modules())
    found: dict[str, list[str]] = {"linear+1x1": [], "conv": []}
    for name, module in model.backbone.named_modules(prefix="backbone"):
        if isinstance(parents.get(name.rpartition(".")[0]), _ModelCall):
            continue
        conv = isinstance(module, nn.Conv2d) and module.groups == 1
        if isinstance(module, nn.Linear) or (conv and tuple(module.kernel_size) == (1, 1)):  # type: ignore[union-attr]
            found["linear+1x1"].append(name)
        if conv:
            found["conv"].append(name)
    rule = "linear+1x1" if found["linear+1x1"] else "conv"
    return found[rule], rule


def add_lora(model: Classifier, *, rank: int, alpha: float, dropout: float = 0.0) -> Any:
    """Put LoRA adapters on ``model``'s backbone, in place; return the PEFT wrapper.

    Afterwards only the adapters (``lora_A``/``lora_B``) and the head require gradients; the
    model's outputs are unchanged until the adapters train (B starts at zero).

    Raises:
        WarmstartError: PEFT is not installed.
        ConfigError: the backbone has no linear or convolution layer to adapt.
    """
    peft = import_peft()
    targets, _ = lora_targets(model)
    if not targets:
        raise ConfigError(f"backbone {model.backbone.spec.name!r} has no linear or convolution layer for "
                          f"LoRA to adapt; use finetune or linear_probe")
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    wrapped = peft.get_peft_model(model, config)  # adapters injected into ``model`` itself; all else frozen
    for p in head_parameters(model):
        p.requires_grad_(True)
    return wrapped


def adapter_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The LoRA adapter parameters inside ``model``."""
    return [p for n, p in model.named_parameters() if ".lora_A." in n or ".lora_B." in n]


class LoRA(SourceFinetune):
    """LoRA adapters (rank r, scale α/r) on the backbone's linear and 1×1 conv layers; head trained fully."""

    name = "lora"
    paper = ("Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang, Chen, LoRA: Low-Rank Adaptation of Large "
             "Language Models, ICLR 2022")
    summary = "low-rank adapters on a frozen source model (PEFT)"
    params: ClassVar[dict[str, Param]] = {
        **SourceFinetune.params,
        "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-4, 3e-2), help="learning rate of the adapters"),
        "rank": Param(8, 1, 1024, search=(2, 32), log=True, help="rank r of each adapter"),
        "alpha": Param(16.0, 1e-3, 1e4, search=(4.0, 64.0), log=True, help="scale α (the update is α/r · BA)"),
        "dropout": Param(0.0, 0.0, 0.9, search=(0.0, 0.3), help="dropout on the adapters' input"),
        "head": HEAD_PARAM,
        "bn_mode": Param("frozen", choices=("frozen", "train"),
                         help="batch-norm statistics: keep the source's (frozen) or update them (train)"),
    }

    def param_groups(self, model: Classifier) -> list[dict[str, Any]]:
        """The adapters at ``lr``, the head at ``lr * head_lr_mult``; nothing else trains."""
        return [{"params": adapter_parameters(model), "lr": self.lr},
                {"params": head_parameters(model), "lr": self.lr * self.head_lr_mult}]

    def _fit(self, task: Task, source: Any) -> None:
        torch.manual_seed(self.seed)
        model = self.build_model(task, source)
        self.adapt_statistics(model, task)
        lora_targets_rule = lora_targets(model)[1]
        wrapped = add_lora(model, rank=self.rank, alpha=self.alpha, dropout=self.dropout)
        groups = self.param_groups(model)
        n_adapter = sum(p.numel() for p in groups[0]["params"])
        n_head = sum(p.numel() for p in groups[1]["params"])
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.history_ = self.train(model, task, groups, description=self.name)
        self.lora_scaling_ = self.alpha / self.rank
        self.adapters_: dict[str, tuple[Tensor, Tensor]] = {}
        for name, module in model.named_modules():
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                self.adapters_[name] = (module.lora_A["default"].weight.detach().cpu().clone(),
                                        module.lora_B["default"].weight.detach().cpu().clone())
        merged = wrapped.merge_and_unload()
        for p in merged.parameters():
            p.requires_grad_(True)
        self.model_ = merged
        self.info_["lora"] = {"rank": self.rank, "alpha": self.alpha, "layers": len(self.adapters_),
                              "targets": lora_targets_rule,
                              "adapter_parameters": n_adapter, "head_parameters": n_head,
                              "trainable_parameters": trainable,
                              "total_parameters": sum(p.numel() for p in merged.parameters())}
