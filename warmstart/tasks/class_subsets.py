"""Class-subset task names: ``TASK[CLASSES]`` keeps only some classes of a built-in task.

``CLASSES`` is a comma-separated list of class names (``digits[3,8]``,
``iris[setosa,virginica]``, ``mnist5k-b-inverted[0,4,9]``); an entry ``LO-HI`` of two
whole numbers that is not itself a class name stands for the classes named
``LO`` … ``HI`` (``digits[0-4]`` is ``digits[0,1,2,3,4]``). The subset task keeps every
split's examples of those classes, relabelled ``0 … k-1`` in the base task's class order
(:meth:`warmstart.tasks.Task.subset_classes`), and its name is the canonical spelling:
the base name and the kept class names in that order, comma-separated, so every spelling
of one subset (``digits[8,3]``, ``digits[3-3,8]``) names one task and one knowledge-base
key (``digits[3,8]``). The same name is what ``Task.subset_classes`` gives by default.

In a shell, quote such names (``'digits[0-4]'``): brackets are glob characters, and zsh
refuses an unmatched glob.
"""

from __future__ import annotations

import re

from warmstart.errors import ConfigError
from warmstart.tasks._task import Task

_SUFFIX = re.compile(r"^(?P<inner>[^\[\]]+)\[(?P<spec>[^\[\]]*)\]$")
_RANGE = re.compile(r"^(?P<lo>\d+)-(?P<hi>\d+)$")


def split_subset_name(name: str) -> tuple[str, str] | None:
    """``(inner task name, class spec)`` of a ``TASK[CLASSES]`` name, or None for any other name."""
    m = _SUFFIX.match(name)
    return (m["inner"], m["spec"]) if m else None


def resolve_classes(spec: str, classes: list[str], task_name: str) -> list[int]:
    """The indices (ascending) of the classes ``spec`` names among ``classes``.

    Raises:
        ConfigError: an empty entry, an unknown class name, a range over unknown classes,
            a class named twice, fewer than 2 classes, or every class of the task (the
            message names the culprit and the valid class names).
    """
    valid = ", ".join(classes)
    picked: list[int] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            raise ConfigError(f"class subset [{spec}] of task {task_name!r} has an empty entry; "
                              f"give class names separated by commas (valid: {valid})")
        if entry in classes:
            names = [entry]
        elif (m := _RANGE.match(entry)) is not None:
            lo, hi = int(m["lo"]), int(m["hi"])
            if lo > hi:
                raise ConfigError(f"class range {entry!r} of task {task_name!r} runs backwards; write {hi}-{lo}")
            names = [str(i) for i in range(lo, hi + 1)]
            missing = [n for n in names if n not in classes]
            if missing:
                raise ConfigError(f"class range {entry!r}: task {task_name!r} has no class {missing[0]!r} "
                                  f"(valid: {valid})")
        else:
            raise ConfigError(f"task {task_name!r} has no class {entry!r} (valid: {valid})")
        for n in names:
            i = classes.index(n)
            if i in picked:
                raise ConfigError(f"class subset [{spec}] of task {task_name!r} names class {n!r} twice")
            picked.append(i)
    if len(picked) < 2:
        raise ConfigError(f"class subset [{spec}] of task {task_name!r} keeps {len(picked)} class; "
                          "a task needs at least 2")
    if len(picked) == len(classes):
        raise ConfigError(f"class subset [{spec}] keeps every class of task {task_name!r}; "
                          f"name the task itself ({task_name})")
    return sorted(picked)


def subset_name(inner: str, classes: list[str], keep: list[int]) -> str:
    """The canonical name of the subset ``keep`` (ascending indices) of task ``inner``."""
    return f"{inner}[{','.join(classes[i] for i in keep)}]"


def with_class_subset(task: Task, spec: str) -> Task:
    """``task`` restricted to the classes ``spec`` names, under its canonical name (see the module docstring).

    Raises:
        ConfigError: a bad subset (see :func:`resolve_classes`).
    """
    keep = resolve_classes(spec, list(task.classes), task.name)
    out = task.subset_classes(keep, name=subset_name(task.name, list(task.classes), keep))
    out.provenance["class_subset_names"] = [task.classes[i] for i in keep]
    return out
