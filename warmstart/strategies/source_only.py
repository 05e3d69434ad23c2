"""``source_only``: train on the labelled source data alone (plus any target labels), no adaptation.

The baseline every domain-adaptation table shows (e.g. Ganin et al., JMLR 2016,
Table 2, "source only"): the same loop, model, schedule and label-free
checkpoint selection as the adaptation methods, with the domain loss switched off.
"""

from __future__ import annotations

from typing import ClassVar

from warmstart.strategies._adaptation import ADAPTATION_PARAMS, AdaptationStrategy
from warmstart.strategies._params import Param


class SourceOnly(AdaptationStrategy):
    """Source-only baseline: cross-entropy on source (and target support) labels only."""

    name = "source_only"
    paper = "baseline; source-only model as reported by Ganin et al., JMLR 2016"
    summary = "train on source labels only; the domain-adaptation baseline"
    params: ClassVar[dict[str, Param]] = {**ADAPTATION_PARAMS}
