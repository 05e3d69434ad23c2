"""Episodic sampling for few-shot learning: N-way K-shot episodes with Q queries.

An episode picks ``n_way`` classes at random (from all of a task's classes or a
chosen subset), then ``k_shot`` support and ``q_query`` query examples of each,
without overlap, and relabels the chosen classes ``0..n_way-1`` in the order
they were drawn (Vinyals et al., "Matching Networks for One Shot Learning",
NeurIPS 2016; the protocol of Snell et al. 2017 and Finn et al. 2017).

Episode ``i`` of a sampler depends only on its seed and ``i``, so every method
evaluated on "episode 17" sees the same images, in any order of evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from warmstart.errors import ConfigError
from warmstart.tasks._task import Inputs, Task, concat, n_items, take


@dataclass
class Episode:
    """One few-shot episode.

    Attributes:
        x_support, y_support: ``n_way * k_shot`` inputs, labels in ``[0, n_way)``.
        x_query, y_query: ``n_way * q_query`` inputs and labels.
        classes: Original class indices of episode labels ``0..n_way-1``.
        class_names: Their names.
    """

    x_support: Inputs
    y_support: Tensor
    x_query: Inputs
    y_query: Tensor
    classes: list[int]
    class_names: list[str]

    def as_task(self, name: str = "episode", modality: str = "image",
                input_shape: tuple[int, ...] = ()) -> Task:
        """The episode as a few-shot :class:`Task`: support = train split, query = test split."""
        return Task(name=name, x_train=self.x_support, y_train=self.y_support, x_val=None, y_val=None,
                    x_test=self.x_query, y_test=self.y_query, classes=list(self.class_names),
                    modality=modality,  # type: ignore[arg-type]
                    input_shape=input_shape, provenance={"episode": {"classes": self.classes}},
                    shots=len(self.y_support) // max(1, len(self.classes)))


class EpisodeSampler:
    """Seeded N-way K-shot Q-query episodes from labelled data.

    Args:
        x, y: Inputs and integer labels to draw from.
        n_way: Classes per episode.
        k_shot: Support examples per class.
        q_query: Query examples per class (0: none).
        classes: Class indices to draw from (default: every label present in ``y``).
        class_names: Names of all classes (default: the indices as strings).
        seed: Seed; episode ``i`` depends only on ``(seed, i)``.

    Raises:
        ConfigError: ``n_way`` < 2 or more than the available classes, ``k_shot`` < 1,
            ``q_query`` < 0, an unknown class, or a class with fewer than
            ``k_shot + q_query`` examples (the message names it).
    """

    def __init__(self, x: Inputs, y: Tensor, n_way: int, k_shot: int, q_query: int = 15, *,
                 classes: Sequence[int] | None = None, class_names: Sequence[str] | None = None,
                 seed: int = 0) -> None:
        if n_items(x) != len(y):
            raise ConfigError(f"episodes: {n_items(x)} inputs but {len(y)} labels")
        present = sorted(int(c) for c in torch.unique(y).tolist())
        pool = sorted(int(c) for c in classes) if classes is not None else present
        names = list(class_names) if class_names is not None else [str(c) for c in range(max(present) + 1)]
        if len(set(pool)) != len(pool):
            raise ConfigError(f"episodes: repeated class in {list(pool)}")
        unknown = [c for c in pool if c not in present]
        if unknown:
            raise ConfigError(f"episodes: class {unknown[0]} has no examples to draw from")
        if n_way < 2:
            raise ConfigError(f"episodes: n_way must be >= 2, got {n_way}")
        if n_way > len(pool):
            raise ConfigError(f"episodes: {n_way}-way episodes need {n_way} classes, only {len(pool)} "
                              f"available ({', '.join(names[c] for c in pool)})")
        if k_shot < 1 or q_query < 0:
            raise ConfigError(f"episodes: k_shot must be >= 1 and q_query >= 0, got {k_shot} and {q_query}")
        self.index = {c: torch.nonzero(y == c).flatten() for c in pool}
        need = k_shot + q_query
        for c, idx in self.index.items():
            if len(idx) < need:
                raise ConfigError(
                    f"episodes: class {names[c]!r} has {len(idx)} examples, fewer than "
                    f"k_shot + q_query = {k_shot} + {q_query}")
        self.x, self.y = x, y
        self.n_way, self.k_shot, self.q_query = n_way, k_shot, q_query
        self.classes, self.class_names, self.seed = pool, names, int(seed)

    @classmethod
    def from_task(cls, task: Task, n_way: int, k_shot: int, q_query: int = 15, *,
                  split: str = "train", classes: Sequence[int | str] | None = None,
                  seed: int = 0) -> EpisodeSampler:
        """Episodes from one labelled split of ``task`` (``train``, ``val``, ``test`` or ``all``).

        ``classes`` may name classes by index or by name.

        Raises:
            ConfigError: the split has no labels, an unknown class, or a request the data cannot meet.
        """
        if split == "all":
            candidates = [(task.x_train, task.y_train), (task.x_val, task.y_val), (task.x_test, task.y_test)]
            parts: list[tuple[Any, Tensor]] = [(x, y) for x, y in candidates if x is not None and y is not None]
            x, y = parts[0]
            for xp, yp in parts[1:]:
                x, y = concat(x, xp), torch.cat([y, yp])
        elif split in ("train", "val", "test"):
            x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
            if x is None or y is None:
                raise ConfigError(f"task {task.name!r} has no labelled {split} split to draw episodes from")
        else:
            raise ConfigError(f"split {split!r} is not valid; choose one of ['all', 'test', 'train', 'val']")
        idx = None
        if classes is not None:
            idx = [_class_index(task, c) for c in classes]
        return cls(x, y, n_way, k_shot, q_query, classes=idx, class_names=task.classes, seed=seed)

    def episode(self, i: int) -> Episode:
        """Episode number ``i`` (deterministic in ``(seed, i)``)."""
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + int(i)) % (2**63 - 1))
        pick = torch.randperm(len(self.classes), generator=gen)[: self.n_way]
        chosen = [self.classes[int(j)] for j in pick]
        sup: list[Tensor] = []
        qry: list[Tensor] = []
        for c in chosen:
            idx = self.index[c]
            perm = idx[torch.randperm(len(idx), generator=gen)]
            sup.append(perm[: self.k_shot])
            qry.append(perm[self.k_shot: self.k_shot + self.q_query])
        labels = torch.arange(self.n_way)
        ys = labels.repeat_interleave(self.k_shot)
        yq = labels.repeat_interleave(self.q_query)
        s_idx, q_idx = torch.cat(sup), torch.cat(qry)
        return Episode(take(self.x, s_idx), ys, take(self.x, q_idx), yq, chosen,
                       [self.class_names[c] for c in chosen])

    def __iter__(self) -> Iterator[Episode]:
        """Episodes 0, 1, 2, ... without end."""
        i = 0
        while True:
            yield self.episode(i)
            i += 1

    def episodes(self, n: int, start: int = 0) -> list[Episode]:
        """Episodes ``start .. start+n-1``."""
        return [self.episode(i) for i in range(start, start + n)]


def _class_index(task: Task, c: Any) -> int:
    if isinstance(c, str):
        if c not in task.classes:
            raise ConfigError(f"task {task.name!r} has no class {c!r}; classes: {', '.join(task.classes)}")
        return task.classes.index(c)
    c = int(c)
    if not 0 <= c < task.n_classes:
        raise ConfigError(f"task {task.name!r} has no class index {c}; valid 0..{task.n_classes - 1}")
    return c
