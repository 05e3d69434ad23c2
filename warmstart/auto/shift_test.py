"""Can a classifier tell the source's inputs from the target's? A classifier two-sample test.

A logistic regression is trained to tell a sample of the source's inputs from an equally large sample of the
target's (its pool and its labelled examples), and scored by stratified 5-fold cross-validation; under the null
hypothesis that both come from one distribution its held-out accuracy is Binomial(n, 1/2), and the one-sided
binomial test gives the p-value (Lopez-Paz & Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017).

Inputs are compared as flat vectors of their raw values, standardized: on tabular data these are the features a
model sees; an image shift (another dataset, a rotation, inverted colours) moves pixel statistics that a linear
classifier finds. Inputs that are not tensors (text) are not tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: a shift is detected when the test's p-value is below this
ALPHA = 0.05
#: most inputs drawn from each side
MAX_PER_SIDE = 500
FOLDS = 5


@dataclass(frozen=True)
class ShiftTest:
    """The outcome of :func:`shift_test`.

    Attributes:
        accuracy: The domain classifier's cross-validated accuracy (0.5: chance).
        p_value: One-sided binomial p-value of that accuracy against chance.
        n: Inputs it was scored on (half from each side).
    """

    accuracy: float
    p_value: float
    n: int

    @property
    def shifted(self) -> bool:
        """Whether the test found the two samples to differ (p-value below :data:`ALPHA`)."""
        return self.p_value < ALPHA

    def describe(self) -> str:
        """One line: the classifier's accuracy, the p-value and the verdict."""
        verdict = "a shift" if self.shifted else "no shift"
        return (f"a domain classifier told source from target inputs with {self.accuracy:.3f} accuracy on {self.n} "
                f"held-out inputs (p = {self.p_value:.3g} against chance): {verdict}")

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return {"accuracy": round(self.accuracy, 4), "p_value": self.p_value, "n": self.n, "shifted": self.shifted}


def _flat(x: torch.Tensor, n: int, rng: np.random.Generator) -> np.ndarray:
    idx = rng.choice(len(x), size=n, replace=False)
    return x[torch.as_tensor(idx)].reshape(n, -1).float().numpy()


def shift_test(source: Any, target: Any, *, seed: int = 0) -> ShiftTest | None:
    """Test whether ``source`` and ``target`` inputs (tensors, first axis the examples) come from one distribution.

    Returns:
        The test, or None when it cannot run: inputs that are not tensors, shapes that differ, or fewer than
        :data:`FOLDS` inputs on a side.
    """
    from scipy.stats import binomtest
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not (isinstance(source, torch.Tensor) and isinstance(target, torch.Tensor)):
        return None
    if source.shape[1:] != target.shape[1:]:
        return None
    n = min(len(source), len(target), MAX_PER_SIDE)
    if n < FOLDS:
        return None
    rng = np.random.default_rng(seed)
    x = np.concatenate([_flat(source, n, rng), _flat(target, n, rng)])
    y = np.repeat([0, 1], n)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pred = cross_val_predict(clf, x, y, cv=StratifiedKFold(FOLDS, shuffle=True, random_state=seed))
    correct = int((pred == y).sum())
    p = float(binomtest(correct, len(y), 0.5, alternative="greater").pvalue)
    return ShiftTest(correct / len(y), p, len(y))
