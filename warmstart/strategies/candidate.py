"""``nas_candidate``: one searched architecture around the source model, built and trained.

Every candidate of ``warmstart search`` is this strategy run through
:func:`warmstart.recipe.run_recipe` with ``Recipe.architecture`` set, so candidates
are scored by the same few-shot protocol as ``tune`` and ``auto``
(:mod:`warmstart.validation`). The spec (:mod:`warmstart.search._candidate`) says
where to cut the source backbone, how many stages to freeze (their features are
cached through the engine's feature cache, so only the tail trains), the new blocks
(grown as Net2Net morphisms, Chen et al. 2016) or neck, and the head; optionally the
trained parent it inherits from (regularized evolution, Real et al. 2019).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from warmstart.errors import ConfigError
from warmstart.strategies._base import Strategy
from warmstart.strategies._params import Param
from warmstart.strategies._transfer import source_model
from warmstart.tasks._task import Task


class NASCandidate(Strategy):
    """A NAS candidate: cut, frozen (cached) stages, new blocks or neck, head; its tail trained.

    Call :meth:`set_architecture` before :meth:`fit` (``run_recipe`` does, from
    ``Recipe.architecture``); without one the candidate is the source model itself with
    nothing frozen. With ``inherit=False`` every weight starts at random (the same
    random backbone for every candidate of a seed, so frozen features are still shared):
    the scratch baseline of a search.
    """

    name = "nas_candidate"
    paper = ("Chen, Goodfellow & Shlens, Net2Net: Accelerating Learning via Knowledge Transfer, ICLR 2016; "
             "Real et al., Regularized Evolution for Image Classifier Architecture Search, AAAI 2019")
    summary = "a searched architecture (cut, frozen stages, new blocks, head) trained on cached features"
    needs_source = True
    params: ClassVar[dict[str, Param]] = {
        "epochs": Param(15, 1, 100_000, help="training epochs of the candidate's tail"),
        "batch_size": Param(32, 1, 100_000, help="examples per step"),
        "lr": Param(3e-3, 1e-7, 10.0, log=True, search=(1e-4, 3e-2), help="learning rate of the tail"),
        "min_steps": Param(0, 0, 10_000_000, help="at least this many optimizer steps"),
        "augment": Param("none", choices=("none",), help="none: the tail trains on cached features, not images"),
        "inherit": Param(True, help="start from the source weights (false: random initialization, the baseline)"),
    }

    def set_architecture(self, architecture: Mapping[str, Any]) -> NASCandidate:
        """Set the candidate spec (a JSON object, see :mod:`warmstart.search._candidate`); returns self.

        Raises:
            ConfigError: not a JSON object with a ``cut``.
        """
        if not isinstance(architecture, Mapping) or "cut" not in architecture:
            raise ConfigError(f"nas_candidate: an architecture is a JSON object with at least 'cut'; "
                              f"got {architecture!r}")
        self.architecture_ = dict(architecture)
        return self

    def _fit(self, task: Task, source: Any) -> None:
        from warmstart.search._candidate import build_candidate, probe, scratch_twin, train_candidate
        from warmstart.search.morphism import base_arch

        torch.manual_seed(self.seed)
        base, report = source_model(task, source, "auto", progress=self.progress)
        self.info_.update(report)
        base = base.to("cpu")
        if not self.inherit:
            base = scratch_twin(base, self.seed)
        spec = dict(getattr(self, "architecture_", None) or base_arch(base))
        model, morph_report = build_candidate(base, spec, inherit=self.inherit)
        self.info_["morph"] = morph_report
        self.info_["init_probe"] = probe(model, task.x_train)
        freeze = min(int(spec.get("freeze", 0) or 0), int(spec["cut"]))
        self.history_, val = train_candidate(model, freeze, task, self.train_config())
        self.info_.update(val)
        self.info_["frozen_stages"] = freeze
        self.model_ = model
