"""``finetune``: fine-tune every layer from the source weights, with a faster head.

Standard fine-tuning (Yosinski et al. 2014, "How transferable are features in
deep neural networks?"): all layers train; the new (or reused) head gets
``head_lr_mult`` times the backbone's learning rate. It is
:class:`~warmstart.strategies._source_finetune.SourceFinetune` with no hook
overridden, so it shares that base's parameters (``lr``, ``head_lr_mult``,
``head``, the batch-norm options) with every regularized variant.
"""

from __future__ import annotations

from warmstart.strategies._source_finetune import SourceFinetune


class Finetune(SourceFinetune):
    """Fine-tune all layers with cross-entropy; head learning rate = ``lr * head_lr_mult``."""

    name = "finetune"
    paper = "Yosinski et al., How transferable are features in deep neural networks?, NeurIPS 2014"
    summary = "all layers, separate head learning rate"
