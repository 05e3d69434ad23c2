"""Source training: supervised pretraining (and self-supervised SimCLR in :mod:`.simclr`)."""

from warmstart.backbones.new_model import default_backbone, new_model
from warmstart.pretraining.supervised import pretrain_supervised

__all__ = ["default_backbone", "new_model", "pretrain_supervised"]
