"""Backbones: a registry of feature extractors with ordered stages, and checkpoints."""

from warmstart.backbones._base import Backbone, BackboneSpec, GlobalAvgPool
from warmstart.backbones._registry import (
    DESCRIPTIONS,
    create_backbone,
    create_from_spec,
    list_backbones,
    register_backbone,
)
from warmstart.backbones.checkpoint import Checkpoint, load_checkpoint, read_meta, save_checkpoint
from warmstart.backbones.classifier import Classifier, HeadSpec, InputSpec, build_head

__all__ = [
    "DESCRIPTIONS",
    "Backbone",
    "BackboneSpec",
    "Checkpoint",
    "Classifier",
    "GlobalAvgPool",
    "HeadSpec",
    "InputSpec",
    "build_head",
    "create_backbone",
    "create_from_spec",
    "list_backbones",
    "load_checkpoint",
    "read_meta",
    "register_backbone",
    "save_checkpoint",
]
