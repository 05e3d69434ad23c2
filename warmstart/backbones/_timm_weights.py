"""Where a ``timm:<name>`` backbone's weights come from, and creating the timm model with them.

Three sources, decided before anything is built (:func:`plan_weights`):

* ``file``: a local weights file (``weights=FILE``), loaded exactly as timm's
  ``pretrained=True, pretrained_cfg_overlay=dict(file=FILE)`` does.
* ``timm``: timm's own pretrained weights (``pretrained=True``: its download into
  the Hugging Face cache, or that cache when offline). Asked for by a name with a
  pretrained tag (``resnet18.a1_in1k``) or by ``pretrained=True``. When they cannot
  be had (offline and not cached, or timm has none for the name) creation stops with
  a :class:`~warmstart.errors.ConfigError` that names ``--weights FILE``: a tagged
  name never silently gives random weights.
* ``random``: a plain name (no tag) without a file is a random initialization, and
  is logged as one; ``pretrained=False`` builds the architecture only (how a
  checkpoint is rebuilt before its own weights are loaded into it).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from warmstart.errors import CheckpointError, ConfigError

log = logging.getLogger("warmstart.backbones.timm")


@dataclass(frozen=True)
class WeightsPlan:
    """Where the weights of one ``timm:`` backbone come from.

    Attributes:
        kind: ``file``, ``timm``, ``random`` (a plain name) or ``architecture`` (``pretrained=False``:
            the weights are loaded afterwards, e.g. from a checkpoint).
        name: The timm name to record in the spec (with the resolved tag for ``timm``).
        path: The weights file for ``file``.
    """

    kind: str
    name: str
    path: Path | None = None

    def describe(self) -> str:
        """One line for logs and reports: where the weights came from."""
        if self.kind == "file":
            return f"weights file {self.path}"
        if self.kind == "timm":
            return f"timm pretrained weights {self.name}"
        if self.kind == "architecture":
            return "architecture only (weights loaded separately)"
        return "random initialization (no pretrained tag and no --weights FILE)"


def plan_weights(timm: Any, name: str, weights: str | None, pretrained: bool | None) -> WeightsPlan:
    """Decide the weights of ``timm:<name>`` (see the module docstring).

    Args:
        timm: The imported timm module.
        name: A timm model name, optionally with a pretrained tag.
        weights: A local weights file, or None.
        pretrained: True: timm's pretrained weights; False: architecture only; None: timm's
            pretrained weights exactly when ``name`` has a tag.

    Raises:
        ConfigError: the weights file is missing, ``weights`` is combined with
            ``pretrained=False``, or timm lists no pretrained weights for ``name``.
    """
    label = f"timm:{name}"
    if weights is not None:
        if pretrained is False:
            raise ConfigError(f"backbone {label!r}: a weights file and pretrained=False contradict each other")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"timm weights file {path} does not exist")
        return WeightsPlan("file", name, path)
    _, tag = timm.models.split_model_name_tag(name)
    if pretrained is False:
        return WeightsPlan("architecture", name)
    if pretrained is None and not tag:
        return WeightsPlan("random", name)
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (getattr(cfg, "hf_hub_id", None) or getattr(cfg, "url", None)
                           or getattr(cfg, "file", None)):
        raise ConfigError(f"backbone {label!r}: timm has no pretrained weights for this name; give a local "
                          f"weights file with --weights FILE, or drop the tag for a random initialization")
    resolved = name if tag or not getattr(cfg, "tag", None) else f"{name}.{cfg.tag}"
    return WeightsPlan("timm", resolved)


@contextmanager
def _capture_load_report(report: dict[str, list[str]]) -> Iterator[None]:
    """Collect the missing/unexpected keys timm logs while loading pretrained weights."""

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            m = re.match(r"(Missing|Unexpected) keys \((.*?)\) (discovered|found)", msg)
            if m:
                report[m.group(1).lower()].extend(k for k in m.group(2).split(", ") if k)

    logger = logging.getLogger("timm.models._builder")
    handler, old_level = _Handler(logging.INFO), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def create_timm_model(timm: Any, plan: WeightsPlan, model_kwargs: dict[str, Any]) -> tuple[nn.Module,
                                                                                          dict[str, list[str]]]:
    """``timm.create_model`` with the planned weights; returns the model and timm's load report.

    A weights file is read by :func:`~warmstart.backbones.weights_file.read_state_dict` (never
    unpickled in full), renamed onto timm's names by
    :func:`~warmstart.backbones.weights_layout.map_state_dict`, and handed to timm's own loader
    as a state dict (first conv folded to ``in_chans``, position embeddings resampled). The
    pretrained classifier (of a file, or of timm's weights) is kept apart, on the model's
    ``warmstart_pretrained_head`` attribute: ``{"weight", "bias"}`` or empty when there is none.

    Raises:
        ConfigError: invalid arguments, timm's pretrained weights cannot be had (the message
            names ``--weights FILE``), or a weights file that cannot be read or fits no layout.
        CheckpointError: the weights file does not fit the model.
    """
    label = f"timm:{plan.name}"
    kwargs = dict(model_kwargs)
    head: dict[str, Tensor] = {}
    layout = ""
    if plan.kind == "file":
        assert plan.path is not None
        mapped, layout, head = _read_mapped(timm, plan, model_kwargs)
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"state_dict": mapped})
    elif plan.kind == "timm":
        kwargs.update(pretrained=True)
        kwargs.pop("num_classes", None)  # keep timm's classifier to read it, then drop it below
    report: dict[str, list[str]] = {"missing": [], "unexpected": []}
    try:
        with _capture_load_report(report):
            model = timm.create_model(plan.name, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"backbone {label!r}: {exc}") from None
    except Exception as exc:  # hub and network errors come in many types; all get one answer
        first = " ".join(line.strip() for line in str(exc).splitlines())[:300] or type(exc).__name__
        if plan.kind == "file":
            raise CheckpointError(f"weights {plan.path} do not load into {label!r}: {first}") from None
        if plan.kind == "timm":
            raise ConfigError(f"backbone {label!r}: cannot get timm's pretrained weights (offline, or not "
                              f"downloaded yet: {type(exc).__name__}); give a local weights file with "
                              f"--weights FILE, or run once with network access") from None
        if isinstance(exc, (RuntimeError, ValueError, KeyError, OSError, AssertionError)):
            raise ConfigError(f"backbone {label!r}: {first}") from None
        raise
    if plan.kind == "file":
        missing = set(report["missing"])
        own = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
        if all(k in missing for k in own):
            raise CheckpointError(f"weights {plan.path} do not fit {label!r}: none of its "
                                  f"{len(own)} tensors were found in the file")
        if report["missing"] or report["unexpected"]:
            warnings.warn(f"{label}: loaded {plan.path} with {len(report['missing'])} tensors missing "
                          f"(random init: {report['missing'][:5]}) and {len(report['unexpected'])} "
                          f"unused ({report['unexpected'][:5]})", stacklevel=3)
    if plan.kind == "timm":
        head = _take_classifier(model)
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict):
        cfg.pop("state_dict", None)  # the file's tensors: loaded now, not to be kept twice
    model.warmstart_pretrained_head = head
    model.warmstart_weights_layout = layout
    log.info("%s: %s%s", label, plan.describe(), f" ({layout} layout)" if layout else "")
    return model, report


def _classifier_names(cfg: Any) -> tuple[str, ...]:
    names = cfg.get("classifier") if isinstance(cfg, dict) else getattr(cfg, "classifier", None)
    return (names,) if isinstance(names, str) else tuple(names or ())


def _read_mapped(timm: Any, plan: WeightsPlan, model_kwargs: dict[str, Any]) -> tuple[dict[str, Tensor], str,
                                                                                      dict[str, Tensor]]:
    """The file's tensors on timm's names (classifier apart), and the layout that fitted."""
    import torch

    from warmstart.backbones.weights_file import read_state_dict
    from warmstart.backbones.weights_layout import map_state_dict

    assert plan.path is not None
    state = read_state_dict(plan.path)
    ref_kwargs = {k: v for k, v in model_kwargs.items() if k not in ("in_chans", "num_classes", "img_size")}
    try:
        with torch.device("meta"):
            ref_model = timm.create_model(plan.name, pretrained=False, **ref_kwargs)
    except Exception:  # a model that cannot be built on the meta device: build it for real
        ref_model = timm.create_model(plan.name, pretrained=False, **ref_kwargs)
    ref = {k: tuple(v.shape) for k, v in ref_model.state_dict().items()}
    cfg = getattr(ref_model, "pretrained_cfg", {}) or {}
    classifier = _classifier_names(cfg)
    first = cfg.get("first_conv") if isinstance(cfg, dict) else None
    mapped, layout = map_state_dict(state, ref, label=f"timm:{plan.name}", classifier=classifier,
                                    first_conv=first if isinstance(first, str) else "",
                                    ordered=plan.path.suffix.lower() != ".safetensors")
    head: dict[str, Tensor] = {}
    if len(classifier) == 1:
        w, b = mapped.pop(f"{classifier[0]}.weight", None), mapped.pop(f"{classifier[0]}.bias", None)
        if w is not None and w.dim() == 2:
            head = {"weight": w, **({"bias": b} if b is not None else {})}
    return mapped, layout, head


def _take_classifier(model: nn.Module) -> dict[str, Tensor]:
    """The weights of a timm model's linear classifier (empty if it has none), then drop it."""
    try:
        fc = model.get_classifier()  # type: ignore[operator]
    except Exception:
        fc = None
    head = ({"weight": fc.weight.detach().clone(),
             **({"bias": fc.bias.detach().clone()} if fc.bias is not None else {})}
            if isinstance(fc, nn.Linear) else {})
    model.reset_classifier(0)  # type: ignore[operator]
    return head
