"""The architecture in auto's joint search: NAS candidates around the pretrained source.

``nas_candidate`` (:mod:`warmstart.strategies.candidate`) is a strategy like any other in the
joint space; its architecture is one more categorical parameter, ``nas_candidate.arch``, whose
choices are the candidates the meta-dataset runs around a source with S stages
(``benchmarks/_meta_portfolio.py``, ``nas_members``): the full depth with S-1 or S-2 stages
frozen, and the depth cut to S-1 with none or S-2 frozen (Chen et al., Net2Net, ICLR 2016; the
frozen prefix is computed once through the feature cache). An Optuna categorical holds only
scalars, so each choice is the candidate spec as canonical JSON text (``{"cut": 3, "freeze": 2}``);
the objective turns it back into ``Recipe.architecture``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from warmstart.errors import WarmstartError

NAS = "nas_candidate"
#: the parameter of ``nas_candidate`` in the joint space (``nas_candidate.arch``)
ARCH = "arch"


def arch_text(architecture: Mapping[str, Any]) -> str:
    """The canonical JSON text of a candidate spec (a choice of ``nas_candidate.arch``)."""
    return json.dumps(dict(architecture), sort_keys=True)


def nas_specs(n_stages: int) -> list[tuple[int, int]]:
    """The (cut, freeze) candidates around a source with ``n_stages`` stages (the meta-dataset's too)."""
    specs: list[tuple[int, int]] = []
    for cut, freeze in ((n_stages, n_stages - 1), (n_stages, n_stages - 2), (n_stages - 1, 0),
                        (n_stages - 1, n_stages - 2)):
        spec = (cut, max(0, min(freeze, cut)))
        if cut >= 1 and spec not in specs:
            specs.append(spec)
    return specs


def nas_archs(n_stages: int) -> list[str]:
    """The cut/freeze candidates around a source with ``n_stages`` stages, as JSON texts (module docstring)."""
    return [arch_text({"cut": c, "freeze": f}) for c, f in nas_specs(n_stages)]


def source_stages(sources: Sequence[Any]) -> int | None:
    """The fewest backbone stages among the sources (``RankedSource``), so every candidate fits each; None if unknown.

    A source whose checkpoint cannot be loaded is skipped (it was ranked, so it normally loads).
    """
    counts = []
    for s in sources:
        try:
            counts.append(int(s.source.checkpoint(progress=False).model.backbone.num_stages))
        except (WarmstartError, AttributeError, OSError):
            continue
    return min(counts) if counts else None


def split_params(strategy: str, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(hyperparameters, architecture) of ``strategy`` from joint-space values named ``STRATEGY.PARAM``.

    ``values`` may hold other strategies' parameters and ``source``/``strategy``; they are ignored.
    """
    params = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(strategy + ".")}
    text = params.pop(ARCH, None) if strategy == NAS else None
    return params, (json.loads(text) if isinstance(text, str) else None)
