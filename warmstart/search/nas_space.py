"""Architecture search spaces: a generic declarative space and the one built from a source backbone.

:class:`Space` is a small NNI-style model-space API: named choices of values
(``Space({"width": [16, 32], "act": ["relu", "gelu"]}, build=fn)``, or
``Space().choice("width", [16, 32])``), an optional constraint, and a
``build(arch, base)`` function turning one point of the space into a
:class:`~warmstart.backbones.classifier.Classifier`. Every strategy samples it
through Optuna (``suggest``), evolution mutates it (``mutate``).

:class:`NASSpace` is the space built from a pretrained backbone: how many
stages to keep (``cut``), how many to freeze (``freeze``, clamped to ``cut``),
new blocks after the cut (``blocks``, ``block_width``, ``kernel``) and the head
(``head_depth``, ``head_width``, ``activation``, ``dropout``, ``norm``). With
``inherit=True`` candidates start from the source weights and the new blocks
start as function-preserving morphisms (Net2Net, Chen et al. 2016; network
morphisms, Elsken et al. 2018); with ``inherit=False`` the same space is
initialized at random: the scratch baseline.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from optuna.distributions import CategoricalDistribution
from torch import nn

from warmstart.errors import ConfigError

Arch = dict[str, Any]
BuildFn = Callable[[Arch, nn.Module], nn.Module]


class Space:
    """A discrete architecture space: named choices, an optional constraint and a builder.

    Args:
        choices: Name → candidate values (None, bool, int, float or str; Optuna's categorical values).
        constraint: ``arch -> bool``; points where it is False are never trained.
        build: ``(arch, base_model) -> Classifier``; ``base_model`` is the source model adapted
            to the task. The returned model defines the candidate's structure (cut depth, neck,
            head; :func:`warmstart.search._candidate.spec_of_model`), which the ``nas_candidate``
            strategy rebuilds from the source for every trial (uniform blocks and heads grow as
            Net2Net morphisms, other necks start at random). A key ``freeze`` in ``arch`` freezes
            that many stages (their features are cached).

    Raises:
        ConfigError: a choice has no values, a value is not a plain scalar, or no point
            satisfies the constraint (see :meth:`validate`).
    """

    def __init__(self, choices: Mapping[str, Sequence[Any]] | None = None, *,
                 constraint: Callable[[Arch], bool] | None = None, build: BuildFn | None = None) -> None:
        self.choices: dict[str, tuple[Any, ...]] = {}
        self.constraint = constraint
        self._build = build
        for name, values in (choices or {}).items():
            self.choice(name, values)

    def choice(self, name: str, values: Sequence[Any]) -> Space:
        """Declare one choice (NNI's ``ValueChoice``/``LayerChoice`` by name); returns self."""
        vals = tuple(values)
        if not vals:
            raise ConfigError(f"search space: choice {name!r} has no values")
        bad = [v for v in vals if v is not None and not isinstance(v, (bool, int, float, str))]
        if bad:
            raise ConfigError(f"search space: choice {name!r} has value {bad[0]!r}; use None, bool, int, float or str")
        if len(set(vals)) != len(vals):
            raise ConfigError(f"search space: choice {name!r} repeats a value: {list(vals)}")
        self.choices[name] = vals
        return self

    @property
    def names(self) -> list[str]:
        """Choice names in declaration order."""
        return list(self.choices)

    def size(self) -> int:
        """Number of points (before the constraint)."""
        n = 1
        for v in self.choices.values():
            n *= len(v)
        return n

    def distributions(self) -> dict[str, CategoricalDistribution]:
        """Optuna distributions of the choices."""
        return {k: CategoricalDistribution(v) for k, v in self.choices.items()}

    def resolve(self, arch: Arch) -> Arch:
        """Canonical form of a point (hook for spaces with dependent choices)."""
        return dict(arch)

    def allowed(self, arch: Arch) -> bool:
        """Whether ``arch`` satisfies the constraint."""
        return self.constraint is None or bool(self.constraint(self.resolve(arch)))

    def validate(self) -> Space:
        """Refuse an empty space or one whose constraint excludes every point; returns self."""
        if not self.choices:
            raise ConfigError("search space is empty: declare at least one choice")
        if self.constraint is not None:
            rng = random.Random(0)
            points = (itertools.product(*self.choices.values()) if self.size() <= 20000 else
                      (tuple(rng.choice(v) for v in self.choices.values()) for _ in range(20000)))
            if not any(self.allowed(dict(zip(self.names, p, strict=True))) for p in points):
                raise ConfigError("search space is contradictory: no architecture satisfies its constraint")
        return self

    def sample(self, rng: random.Random) -> Arch:
        """A uniformly random allowed point."""
        for _ in range(1000):
            arch = {k: rng.choice(v) for k, v in self.choices.items()}
            if self.allowed(arch):
                return arch
        raise ConfigError("search space: could not sample an allowed architecture in 1000 tries")

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        """Change one randomly chosen decision to a different value (Real et al. 2019)."""
        names = [k for k, v in self.choices.items() if len(v) > 1]
        if not names:
            return dict(arch)
        full = {k: arch[k] if arch.get(k) in v else rng.choice(v) for k, v in self.choices.items()}
        for _ in range(100):
            child = dict(full)
            k = rng.choice(names)
            child[k] = rng.choice([v for v in self.choices[k] if v != full[k]])
            if self.allowed(child) and self.resolve(child) != self.resolve(arch):
                return child
        return self.sample(rng)

    def build(self, arch: Arch, base: nn.Module, *, inherit: bool = True, seed: int = 0) -> nn.Module:
        """Build the model of ``arch`` from ``base`` (see the class docstring)."""
        if self._build is None:
            raise ConfigError("this search space has no build function; pass build= to Space")
        return self._build(self.resolve(arch), copy.deepcopy(base))

    def describe(self) -> dict[str, list[Any]]:
        """JSON-serializable choices."""
        return {k: list(v) for k, v in self.choices.items()}


class NASSpace(Space):
    """The space built from a source backbone (see the module docstring).

    Args:
        num_stages: Stages of the source backbone.
        modality: ``image`` (conv blocks) or ``tabular`` (linear blocks).
        cut, freeze, blocks, block_width, kernel, head_depth, head_width, activation,
            dropout, norm: Candidate values of each decision (defaults: every cut depth,
            every freeze count, 0–2 blocks of width 32/64/128 and kernel 1/3/5, heads of
            0–1 hidden layers of 64/128 units, relu/gelu, dropout 0/0.2, no norm).

    Raises:
        ConfigError: a cut depth outside 1..num_stages, a negative freeze, an empty choice, or
            freeze counts all larger than every cut depth (contradictory).
    """

    def __init__(self, num_stages: int, modality: str = "image", *, cut: Sequence[int] | None = None,
                 freeze: Sequence[int] | None = None, blocks: Sequence[int] = (0, 1, 2),
                 block_width: Sequence[int] = (32, 64, 128), kernel: Sequence[int] = (1, 3, 5),
                 head_depth: Sequence[int] = (0, 1), head_width: Sequence[int] = (64, 128),
                 activation: Sequence[str] = ("relu", "gelu"), dropout: Sequence[float] = (0.0, 0.2),
                 norm: Sequence[bool] = (False,)) -> None:
        super().__init__()
        self.num_stages, self.modality = int(num_stages), modality
        cut = tuple(range(1, num_stages + 1)) if cut is None else tuple(int(c) for c in cut)
        freeze = tuple(range(1, num_stages + 1)) if freeze is None else tuple(int(f) for f in freeze)
        bad = [c for c in cut if not 1 <= c <= num_stages]
        if bad:
            raise ConfigError(f"cut depth {bad[0]} is beyond the backbone: it has {num_stages} stages "
                              f"(valid cut depths 1..{num_stages})")
        if any(f < 0 for f in freeze):
            raise ConfigError(f"freeze counts must be >= 0, got {list(freeze)}")
        if freeze and cut and min(freeze) > max(cut):
            raise ConfigError(f"search space is contradictory: every freeze count {list(freeze)} exceeds "
                              f"every cut depth {list(cut)}")
        if any(k < 1 or k % 2 == 0 for k in kernel):
            raise ConfigError(f"kernel sizes must be odd and >= 1, got {list(kernel)}")
        if any(w < 1 for w in (*block_width, *head_width)) or any(b < 0 for b in (*blocks, *head_depth)):
            raise ConfigError("block/head widths must be >= 1 and block/head counts >= 0")
        if any(not 0 <= d < 1 for d in dropout):
            raise ConfigError(f"dropout must be in [0, 1), got {list(dropout)}")
        self.choice("cut", cut).choice("freeze", freeze).choice("blocks", blocks)
        self.choice("block_width", block_width)
        if modality == "image":
            self.choice("kernel", kernel)
        self.choice("head_depth", head_depth).choice("head_width", head_width)
        self.choice("activation", activation).choice("dropout", dropout).choice("norm", norm)

    @classmethod
    def from_model(cls, model: Any, **choices: Any) -> NASSpace:
        """The default space of a :class:`Classifier`'s backbone, with some choices overridden."""
        return cls(model.backbone.num_stages, model.backbone.modality, **choices)

    def resolve(self, arch: Arch) -> Arch:
        """Clamp ``freeze`` to ``cut``; unused width/kernel choices are normalized away."""
        a = dict(arch)
        a["freeze"] = min(int(a.get("freeze", 0)), int(a["cut"]))
        if int(a.get("blocks", 0)) == 0:
            a["block_width"] = None
            a.pop("kernel", None)
        if int(a.get("head_depth", 0)) == 0:
            a["head_width"] = None
            a["norm"] = False
            a["activation"] = "relu"
        return a

    def build(self, arch: Arch, base: nn.Module, *, inherit: bool = True, seed: int = 0) -> nn.Module:
        """The candidate of ``arch``: ``base`` morphed into it (see :func:`warmstart.search.morphism.morph`)."""
        from warmstart.search.morphism import base_arch, morph, reinitialize

        model: Any = base
        child, _ = morph(model, base_arch(model), self.resolve(arch), seed=seed)
        if not inherit:
            reinitialize(child, seed)
        return child
