"""The related tasks of the HPO-transfer blackbox, grouped into families.

A family is a base dataset with its halves, shifted variants and class
subsets; leave-one-family-out removes the whole family of a held-out target
from the knowledge base. Image tasks are turned into cheap tabular tasks
(4×4 average pooling of the 28×28 digits → 49 standardized features) so that
one configuration trains in about a second on one CPU thread.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from warmstart.tasks import Task, load_task


def _pooled(task: Task, name: str) -> Task:
    def pool(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else F.avg_pool2d(x.float().mean(1, keepdim=True), 4).flatten(1)

    xtr = pool(task.x_train)
    assert xtr is not None
    mu, sd = xtr.mean(0), xtr.std(0).clamp_min(1e-3)

    def norm(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else (x - mu) / sd

    return task.replace(name=name, x_train=norm(xtr), x_val=norm(pool(task.x_val)),
                        x_test=norm(pool(task.x_test)), x_unlabeled=None, modality="tabular",
                        input_shape=(49,), provenance={**task.provenance, "pooled": "4x4 avg, standardized"})


def _image(base: str, keep: list[int] | None = None, name: str | None = None) -> Callable[[], Task]:
    def build() -> Task:
        t = load_task(base)
        if keep is not None:
            t = t.subset_classes(keep)
        return _pooled(t, name or f"{base}-pooled")

    return build


def _tab(name: str) -> Callable[[], Task]:
    return lambda: load_task(name)


# name -> (family, builder)
TASKS: dict[str, tuple[str, Callable[[], Task]]] = {
    "iris": ("iris", _tab("iris")),
    "iris-a": ("iris", _tab("iris-a")),
    "iris-b": ("iris", _tab("iris-b")),
    "wine": ("wine", _tab("wine")),
    "wine-a": ("wine", _tab("wine-a")),
    "wine-b": ("wine", _tab("wine-b")),
    "breast_cancer": ("breast_cancer", _tab("breast_cancer")),
    "breast_cancer-a": ("breast_cancer", _tab("breast_cancer-a")),
    "breast_cancer-b": ("breast_cancer", _tab("breast_cancer-b")),
    "digits-pooled": ("digits", _image("digits")),
    "digits-a-pooled": ("digits", _image("digits-a")),
    "digits-b-noisy-pooled": ("digits", _image("digits-b-noisy")),
    "digits-0to4-pooled": ("digits", _image("digits", [0, 1, 2, 3, 4], "digits-0to4-pooled")),
    "mnist5k-a-pooled": ("mnist5k", _image("mnist5k-a")),
    "mnist5k-b-inverted-pooled": ("mnist5k", _image("mnist5k-b-inverted")),
    "mnist5k-5to9-pooled": ("mnist5k", _image("mnist5k-a", [5, 6, 7, 8, 9], "mnist5k-5to9-pooled")),
}


def family_of(task: str) -> str:
    """The family a blackbox task belongs to."""
    return TASKS[task][0]


def build_task(task: str) -> Task:
    """Build one blackbox task."""
    return TASKS[task][1]()
