"""The standardization a tabular task's inputs are in, so a model and its inputs can agree on it.

Tabular loaders standardize each feature with the mean and standard deviation of the task's own
training split. Two tables of the same features standardized on their own data put a value on
different standardized numbers wherever their means or spreads differ (sparse and heavy-tailed
features most of all), so a model pretrained on one table sees the other's rows shifted. Images
have the same problem and the same answer: a pretrained model carries the normalization it was
trained with (timm's ``default_mean``/``default_std``) and new inputs are normalized with it.
A :class:`FeatureScaler` is that normalization for tables: the task records it, the model's
:class:`~warmstart.backbones.classifier.InputSpec` carries it, and :func:`convert` moves inputs
from one standardization to another through the raw values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

#: a feature whose standard deviation is at most this is left unscaled (std 1), not divided by ~0
MIN_STD = 1e-8


@dataclass(frozen=True)
class FeatureScaler:
    """Per-feature standardization ``x = (raw − mean) / std``.

    Attributes:
        mean, std: One value per feature, in raw units; every ``std`` is > :data:`MIN_STD`.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of_train(cls, x: Tensor) -> FeatureScaler:
        """The mean and standard deviation of a training split's raw rows ``x`` (N×D float) per feature,
        in ``x``'s precision; a feature with std ≤ :data:`MIN_STD` (or a single row) gets std 1."""
        mean = x.mean(0)
        std = x.std(0) if len(x) > 1 else torch.ones_like(mean)
        std = torch.where(std > MIN_STD, std, torch.ones_like(std))
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def standardize(self, raw: Tensor) -> Tensor:
        """Raw rows → standardized rows, in ``raw``'s dtype (float32 rows give the float32 arithmetic of
        the loaders)."""
        return (raw - self._tensor(self.mean, raw)) / self._tensor(self.std, raw)

    def unstandardize(self, x: Tensor) -> Tensor:
        """Standardized rows → raw rows (float64)."""
        x = x.double()
        return x * self._tensor(self.std, x) + self._tensor(self.mean, x)

    @staticmethod
    def _tensor(values: tuple[float, ...], like: Tensor) -> Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device)

    def to_json(self) -> dict[str, list[float]]:
        """Plain dict (``mean``, ``std``)."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> FeatureScaler | None:
        """Inverse of :meth:`to_json`; None for None or an empty dict."""
        if not d or not d.get("mean"):
            return None
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))


def convert(x: Any, source: FeatureScaler | None, target: FeatureScaler | None) -> Any:
    """Rows standardized by ``source`` as ``target`` standardizes them.

    ``x`` is returned unchanged where there is nothing to convert: either scaler unknown, the two
    equal, ``x`` not a 2-D float tensor, or a feature count that is not the scalers' (the model
    then reports the mismatch itself).
    """
    if not converts(x, source, target):
        return x
    assert source is not None and target is not None
    return target.standardize(source.unstandardize(x)).to(x.dtype)


def converts(x: Any, source: FeatureScaler | None, target: FeatureScaler | None) -> bool:
    """Whether :func:`convert` changes ``x`` (both scalers known and different, ``x`` 2-D float rows of their
    features)."""
    return (source is not None and target is not None and source != target and isinstance(x, Tensor)
            and x.ndim == 2 and x.is_floating_point() and x.shape[1] == len(source.mean) == len(target.mean))
