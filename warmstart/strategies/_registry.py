"""Strategy registry: ``get_strategy(name, **params)`` and ``list_strategies()``.

A strategy is registered by adding its class to ``_CLASSES`` below (one import
line per file); the conformance test runs over this registry.
"""

from __future__ import annotations

from typing import Any

from warmstart.errors import UnknownNameError
from warmstart.strategies._base import Strategy
from warmstart.strategies.bss import BSS
from warmstart.strategies.candidate import NASCandidate
from warmstart.strategies.cdan import CDAN
from warmstart.strategies.coral import DeepCORAL
from warmstart.strategies.dann import DANN
from warmstart.strategies.finetune import Finetune
from warmstart.strategies.fixmatch import FixMatch
from warmstart.strategies.gradual_unfreeze import GradualUnfreeze
from warmstart.strategies.l2sp import L2SP
from warmstart.strategies.linear_probe import LinearProbe
from warmstart.strategies.llrd import LLRD
from warmstart.strategies.lora import LoRA
from warmstart.strategies.maml import MAML
from warmstart.strategies.mcc import MCC
from warmstart.strategies.mmd import MMD
from warmstart.strategies.multitask import Multitask
from warmstart.strategies.protonet import ProtoNet
from warmstart.strategies.scratch import Scratch
from warmstart.strategies.self_training import SelfTraining
from warmstart.strategies.source_only import SourceOnly

_CLASSES: list[type[Strategy]] = [
    Scratch,
    Finetune,
    LinearProbe,
    GradualUnfreeze,
    L2SP,
    LLRD,
    BSS,
    LoRA,
    Multitask,
    SourceOnly,
    DANN,
    CDAN,
    MMD,
    DeepCORAL,
    MCC,
    SelfTraining,
    FixMatch,
    ProtoNet,
    MAML,
    NASCandidate,
]
_REGISTRY: dict[str, type[Strategy]] = {c.name: c for c in _CLASSES}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Register a strategy class (usable as a decorator)."""
    _REGISTRY[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    """Registered strategy names."""
    return list(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    """The class registered under ``name``.

    Raises:
        UnknownNameError: no such strategy (the message lists the valid ones).
    """
    if name not in _REGISTRY:
        raise UnknownNameError("strategy", name, _REGISTRY)
    return _REGISTRY[name]


def get_strategy(name: str, **params: Any) -> Strategy:
    """Instantiate a registered strategy with hyperparameters (validated)."""
    return strategy_class(name)(**params)
