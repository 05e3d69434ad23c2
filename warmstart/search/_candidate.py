"""One NAS candidate: its JSON spec, how it is built from a source model, and how its tail trains.

The ``nas_candidate`` strategy (:mod:`warmstart.strategies.candidate`) is a thin
Strategy around these functions; :func:`warmstart.recipe.run_recipe` gives it the
spec through ``Recipe.architecture``. A spec (JSON) has one of two forms:

* a :class:`~warmstart.search.nas_space.NASSpace` point — ``cut``, ``freeze``,
  ``blocks``, ``block_width``, ``kernel``, ``head_depth``, ``head_width``,
  ``activation``, ``dropout``, ``norm`` — built from the source by
  :func:`~warmstart.search.morphism.morph` (new blocks as function-preserving
  Net2Net morphisms);
* a structure — ``cut``, ``freeze``, ``neck`` (a neck spec,
  :mod:`warmstart.backbones.neck`, e.g. a DARTS cell) and ``head`` (a
  :class:`~warmstart.backbones.classifier.HeadSpec` as JSON) — whose new neck and
  head start at random.

Either may carry ``init``: ``{"seed": int}`` (the seed of copied units and random
parts) and, for weight inheritance (regularized evolution), ``"parent": {"arch": spec,
"weights": safetensors file, "trial": int}``: the parent's structure is rebuilt, its
TRAINED weights loaded, and it is morphed into the child.

Training: the first ``freeze`` stages are frozen; their output is computed once per
distinct frozen prefix (keyed by a hash of the prefix weights, the cut depth and the
data, through the engine's :class:`~warmstart.engine.feature_cache.FeatureCache`), so
candidates that share a frozen prefix train only their tail — the unfrozen stages,
the neck and the head — on cached features.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier, HeadSpec
from warmstart.backbones.neck import build_neck
from warmstart.engine.config import TrainConfig
from warmstart.engine.evaluate import classification_metrics, predict_proba
from warmstart.engine.feature_cache import FeatureCache, default_cache
from warmstart.engine.trainer import History, Trainer
from warmstart.errors import ConfigError
from warmstart.search.morphism import base_arch, morph, reinitialize
from warmstart.tasks._task import Task, n_items, take

#: training examples whose outputs each candidate records before training (``info_["init_probe"]``)
PROBE = 4


def is_structure(spec: dict[str, Any]) -> bool:
    """Whether a spec is the structural form (a neck spec) rather than a NASSpace point."""
    return "neck" in spec


def _check(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or "cut" not in spec:
        raise ConfigError(f"a NAS candidate spec is a JSON object with at least 'cut'; got {spec!r}")
    return spec


def build_structure(base: Classifier, spec: dict[str, Any], seed: int = 0) -> tuple[Classifier, dict[str, Any]]:
    """The candidate of ``spec`` built from ``base`` (not modified), and what was done.

    Returns:
        The model and a report: ``preserving`` (True when it computes ``base``'s function
        in eval mode) and ``ops``.

    Raises:
        ConfigError: a malformed spec (the neck does not fit the backbone's cut, ...).
    """
    spec = _check(spec)
    if not is_structure(spec):
        point = {k: v for k, v in spec.items() if k != "init"}
        return morph(base, base_arch(base), point, seed=seed)
    m = copy.deepcopy(base)
    cut = int(spec["cut"])
    m.depth = None if cut == m.backbone.num_stages else cut
    torch.manual_seed(int(seed))
    if spec.get("neck"):
        try:
            neck, dim = build_neck(dict(spec["neck"]), m.backbone, cut)
        except Exception as exc:
            raise ConfigError(f"NAS candidate: {exc}") from None
        m.neck, m.neck_spec, m.feature_dim = neck, dict(spec["neck"]), dim
    else:
        from warmstart.backbones.neck import cut_dim

        m.neck, m.neck_spec, m.feature_dim = nn.Identity(), None, cut_dim(m.backbone, cut)
    m.replace_head(m.n_classes, HeadSpec.from_json(spec.get("head")))
    return m, {"preserving": False, "ops": ["new neck and head"]}


def spec_of_model(model: Classifier, freeze: int = 0) -> dict[str, Any]:
    """The spec of a built candidate (a custom space's build): a NASSpace point when its neck is plain
    uniform blocks and its hidden head layers have one width (so it grows by morphisms), else its structure."""
    cut = model.backbone.num_stages if model.depth is None else int(model.depth)
    neck = model.neck_spec
    hs = model.head_spec
    blocks = list((neck or {}).get("blocks", [])) if (neck or {}).get("type", "blocks") == "blocks" else None
    uniform = blocks is not None and len({(int(b["width"]), int(b.get("kernel", 3))) for b in blocks}) <= 1
    if uniform and len(set(hs.hidden)) <= 1:
        assert blocks is not None
        return {"cut": cut, "freeze": min(int(freeze), cut), "blocks": len(blocks),
                "block_width": int(blocks[0]["width"]) if blocks else None,
                "kernel": int(blocks[0].get("kernel", 3)) if blocks else 3, "head_depth": len(hs.hidden),
                "head_width": hs.hidden[0] if hs.hidden else None, "activation": hs.activation,
                "dropout": hs.dropout, "norm": hs.norm}
    return {"cut": cut, "freeze": min(int(freeze), cut), "neck": neck, "head": hs.to_json()}


def _copy_matching(model: nn.Module, parent: nn.Module) -> None:
    src = parent.state_dict()
    own = model.state_dict()
    own.update({k: v for k, v in src.items() if k in own and own[k].shape == v.shape})
    model.load_state_dict(own)


def build_candidate(base: Classifier, spec: dict[str, Any], *, inherit: bool = True) -> tuple[Classifier,
                                                                                            dict[str, Any]]:
    """The candidate of ``spec`` (see the module docstring), ready to train.

    Args:
        base: The source model adapted to the task (or its random twin, :func:`scratch_twin`).
        spec: The candidate spec.
        inherit: False: the neck and head are randomly initialized too (the scratch baseline;
            a parent is then ignored).

    Returns:
        The model and a report (``preserving``, ``ops``, and ``parent`` when it inherited).

    Raises:
        ConfigError: a malformed spec, or a parent whose weights file is missing.
    """
    spec = _check(spec)
    init = dict(spec.get("init") or {})
    seed = int(init.get("seed", 0))
    parent = init.get("parent")
    if parent is None or not inherit:
        model, rep = build_structure(base, spec, seed)
        if not inherit:
            reinitialize(model, seed)
            rep = {"preserving": False, "ops": [*rep["ops"], "random initialization"]}
        return model, rep
    weights = Path(str(parent["weights"]))
    if not weights.is_file():
        raise ConfigError(f"NAS candidate: the parent's weights {weights} are missing")
    pspec = _check(dict(parent["arch"]))
    pmodel, _ = build_structure(base, pspec, seed)
    pmodel.load_state_dict(load_file(str(weights)))
    if is_structure(spec) or is_structure(pspec):
        model, rep = build_structure(base, spec, seed)
        _copy_matching(model, pmodel)
        rep = {"preserving": False, "ops": ["weights copied from the parent where shapes match"]}
    else:
        strip = {k: v for k, v in spec.items() if k != "init"}
        model, rep = morph(pmodel, {k: v for k, v in pspec.items() if k != "init"}, strip, seed=seed)
    rep["parent"] = parent.get("trial")
    return model, rep


def scratch_twin(model: Classifier, seed: int) -> Classifier:
    """The same architecture with every weight randomly initialized (the scratch baseline)."""
    twin = copy.deepcopy(model)
    torch.manual_seed(seed)
    for mod in twin.modules():
        reset = getattr(mod, "reset_parameters", None)
        if callable(reset):
            reset()
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
    return twin


def prefix_key(model: Classifier, freeze: int) -> str:
    """Hash of what the frozen prefix computes: input preparation and the first ``freeze`` stages' weights."""
    h = hashlib.sha256(repr((model.input_spec.to_json(), model.backbone.spec.to_json(), freeze)).encode())
    for stage in model.backbone.stages[:freeze]:
        for k, v in stage.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


class Tail(nn.Module):
    """The trainable part of a candidate: stages ``freeze..cut-1``, neck, pooling, head."""

    def __init__(self, model: Classifier, freeze: int) -> None:
        super().__init__()
        self.model, self.freeze = model, freeze

    def forward(self, h: Tensor) -> Tensor:
        m = self.model
        h = m.backbone.forward_stages(h, self.freeze, m.depth)
        assert m.head is not None
        return m.head(m.backbone.pool(m.neck(h)))


class Prefix(nn.Module):
    """The frozen prefix as the feature cache sees it: input preparation and the backbone, no neck."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.backbone = model.backbone
        self._model = [model]  # not a submodule

    def prepare(self, x: Any) -> Any:
        return self._model[0].prepare(x)


def freeze_stages(model: Classifier, freeze: int) -> None:
    """Freeze the first ``freeze`` stages (no gradients; they run only through the feature cache)."""
    for i, stage in enumerate(model.backbone.stages):
        for p in stage.parameters():
            p.requires_grad_(i >= freeze)


def prefix_features(model: Classifier, freeze: int, x: Any, cache: FeatureCache | None = None) -> Tensor:
    """The frozen prefix's output on ``x`` (unpooled), computed once per (prefix weights, depth, data)."""
    return (cache or default_cache()).get(Prefix(model), x, model_key=prefix_key(model, freeze), depth=freeze,
                                          pooled=False)


@torch.no_grad()
def probe(model: nn.Module, x: Any) -> list[list[float]]:
    """The model's outputs (eval mode) on the first :data:`PROBE` items of ``x``."""
    was_training = model.training
    model.eval()
    out = model(take(x, torch.arange(min(PROBE, n_items(x)))))
    model.train(was_training)
    return [[float(v) for v in row] for row in out]


def train_candidate(model: Classifier, freeze: int, task: Task, config: TrainConfig, *,
                    cache: FeatureCache | None = None) -> tuple[History, dict[str, float]]:
    """Train ``model``'s tail on cached frozen features of the task's labelled split.

    Args:
        model: The candidate (trained in place; its frozen stages stay as they are). It is
            moved to the CPU to compute the prefix features; the trainer then uses ``config.device``.
        freeze: Number of frozen stages (``<= cut``).
        task: Its training split is trained on; its validation split, when it has one,
            is monitored (best-weights restore, pruning reports) and scored.
        config: Training settings (no augmentation applies: the inputs are cached features).
        cache: Feature cache for frozen prefixes (default: the process-wide one).

    Returns:
        The training history and, with a validation split, ``val_accuracy`` and ``val_loss`` (NLL).
    """
    model = model.to("cpu")
    freeze_stages(model, freeze)
    ftr = prefix_features(model, freeze, task.x_train, cache)
    val = None
    if task.x_val is not None and task.y_val is not None and len(task.y_val) > 0:
        val = (prefix_features(model, freeze, task.x_val, cache), task.y_val)
    tail = Tail(model, freeze)
    history = Trainer(tail, config).fit(ftr, task.y_train, val=val, description="candidate")
    metrics: dict[str, float] = {}
    if val is not None:
        m = classification_metrics(predict_proba(tail, val[0]), val[1])
        metrics = {"val_accuracy": float(m["accuracy"]), "val_loss": float(m["nll"])}
    for p in model.parameters():
        p.requires_grad_(True)
    return history, metrics
