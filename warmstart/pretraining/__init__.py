"""Source training: supervised pretraining (self-supervised methods join here)."""

from warmstart.pretraining.supervised import default_backbone, new_model, pretrain_supervised

__all__ = ["default_backbone", "new_model", "pretrain_supervised"]
