"""DARTS: differentiable architecture search on cached frozen features (Liu, Simonyan & Yang, ICLR 2019).

A cell of ``nodes`` (>= 4) intermediate nodes sits after the frozen, cut
backbone; every edge computes Σ_o softmax(α_e)_o · o(x) over the candidate
operations (>= 4: none, skip, 3×3 and 5×5 convs, a dilated conv, average and max
pooling for feature maps). Training alternates, batch by batch, one α step on a
validation batch and one weight step on a training batch (the first-order
variant). Because the prefix is frozen, both run on cached features. The
discrete architecture keeps the argmax non-``none`` op of each edge and is then
retrained from scratch as a ``nas_candidate`` recipe (:func:`run_darts`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones._cell import edge_list, input_projection, n_edges, op_table
from warmstart.errors import ConfigError

DEFAULT_IMAGE_OPS = ("none", "skip", "conv3", "conv5", "dil3", "avg3", "max3")
DEFAULT_TABULAR_OPS = ("none", "skip", "fc_relu", "fc_tanh", "fc_gelu")


class MixedCell(nn.Module):
    """The continuous relaxation of a cell: every op on every edge, mixed by softmax(α).

    Raises:
        ConfigError: fewer than 4 nodes or 4 ops, or an unknown op.
    """

    def __init__(self, in_dim: int, width: int, nodes: int, ops: Sequence[str], modality: str = "image") -> None:
        super().__init__()
        table = op_table(modality)
        if nodes < 4:
            raise ConfigError(f"a DARTS cell needs at least 4 nodes, got {nodes}")
        if len(ops) < 4:
            raise ConfigError(f"a DARTS cell needs at least 4 candidate ops per edge, got {list(ops)}")
        unknown = [o for o in ops if o not in table]
        if unknown:
            raise ConfigError(f"unknown DARTS op {unknown[0]!r}; valid for {modality}: {', '.join(table)}")
        self.nodes, self.op_names = nodes, list(ops)
        self.pre = input_projection(in_dim, width, modality)
        self.edges = nn.ModuleList(nn.ModuleList(table[o](width) for o in ops) for _ in range(n_edges(nodes)))
        self.alpha = nn.Parameter(1e-3 * torch.randn(n_edges(nodes), len(ops)))
        self.out_dim = width * nodes

    def forward(self, x: Tensor) -> Tensor:
        w = torch.softmax(self.alpha, dim=1)
        states = [self.pre(x)]
        for j in range(1, self.nodes + 1):
            acc = 0.0
            for e, (i, jj) in enumerate(edge_list(self.nodes)):
                if jj != j:
                    continue
                edge_ops: Any = self.edges[e]
                acc = acc + sum(w[e, o] * op(states[i]) for o, op in enumerate(edge_ops))
            states.append(acc)  # type: ignore[arg-type]
        return torch.cat(states[1:], dim=1)

    def derive(self) -> list[str]:
        """The discrete cell: the strongest non-``none`` op of every edge."""
        w = torch.softmax(self.alpha.detach(), dim=1).clone()
        if "none" in self.op_names:
            w[:, self.op_names.index("none")] = -1.0
        return [self.op_names[int(i)] for i in w.argmax(1)]


class _Supernet(nn.Module):
    def __init__(self, cell: MixedCell, n_classes: int) -> None:
        super().__init__()
        self.cell = cell
        self.head = nn.Linear(cell.out_dim, n_classes)

    def forward(self, h: Tensor) -> Tensor:
        z = self.cell(h)
        return self.head(z.mean(dim=(2, 3)) if z.dim() == 4 else z)


@dataclass
class DartsResult:
    """What the one-shot search found."""

    ops: list[str]
    alpha_start: list[list[float]]
    alpha_end: list[list[float]]
    epochs: int
    seconds: float
    val_accuracy: list[float] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)

    @property
    def alpha_change(self) -> float:
        """Largest absolute change of any architecture weight softmax(α)."""
        a, b = torch.tensor(self.alpha_start), torch.tensor(self.alpha_end)
        return float((torch.softmax(b, 1) - torch.softmax(a, 1)).abs().max())


def darts_search(ftr: Tensor, ytr: Tensor, fva: Tensor, yva: Tensor, n_classes: int, *,
                 modality: str = "image", nodes: int = 4, width: int = 16, ops: Sequence[str] | None = None,
                 epochs: int = 50, batch_size: int = 32, lr: float = 3e-3, alpha_lr: float = 3e-2,
                 deadline: float | None = None, seed: int = 0) -> DartsResult:
    """One-shot search on cached features (train split for weights, validation split for α).

    Args:
        ftr, ytr: Cached training features (N×C×H×W or N×D) and labels.
        fva, yva: Cached validation features and labels.
        n_classes: Classes of the task.
        modality: ``image`` or ``tabular`` (which op table).
        nodes, width, ops: Cell shape and candidate ops.
        epochs: Maximum passes over the training features.
        batch_size, lr, alpha_lr: Optimization (Adam for weights, Adam with weight decay 1e-3 for α).
        deadline: ``time.monotonic()`` value at which the search stops (after at least one epoch).
        seed: Seed of initialization and batching.
    """
    torch.manual_seed(seed)
    ops = list(ops or (DEFAULT_IMAGE_OPS if modality == "image" else DEFAULT_TABULAR_OPS))
    cell = MixedCell(ftr.shape[1], width, nodes, ops, modality)
    net = _Supernet(cell, n_classes)
    a0 = cell.alpha.detach().clone().tolist()
    weights = [p for n, p in net.named_parameters() if not n.endswith("alpha")]
    w_opt = torch.optim.Adam(weights, lr=lr)
    a_opt = torch.optim.Adam([cell.alpha], lr=alpha_lr, betas=(0.5, 0.999), weight_decay=1e-3)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    accs: list[float] = []
    done = 0
    for _ in range(max(1, epochs)):
        net.train()
        perm = torch.randperm(len(ytr), generator=gen)
        for s in range(0, len(perm), batch_size):
            idx = perm[s:s + batch_size]
            if len(idx) < 2:
                continue
            vidx = torch.randint(0, len(yva), (min(batch_size, len(yva)),), generator=gen)
            a_opt.zero_grad()
            F.cross_entropy(net(fva[vidx]), yva[vidx]).backward()
            a_opt.step()
            w_opt.zero_grad()
            F.cross_entropy(net(ftr[idx]), ytr[idx]).backward()
            w_opt.step()
        done += 1
        net.eval()
        with torch.no_grad():
            accs.append(float((net(fva).argmax(1) == yva).float().mean()))
        if deadline is not None and time.monotonic() > deadline:
            break
    return DartsResult(cell.derive(), a0, cell.alpha.detach().tolist(), done, time.perf_counter() - t0, accs,
                       list(ops))


def cell_spec(in_dim: int, result: DartsResult, nodes: int, width: int, modality: str) -> dict[str, object]:
    """The checkpoint ``neck_spec`` of the derived cell."""
    return {"type": "cell", "modality": modality, "in_dim": int(in_dim), "width": int(width),
            "nodes": int(nodes), "ops": list(result.ops)}


def run_darts(objective: Any, study: Any, budget: Any, t0: float) -> dict[str, Any]:
    """DARTS as a one-shot study driver: search the cell once, then score the derived cell as one trial.

    The supernet trains on cached features of the frozen, deepest allowed cut: weights on the
    training part and α on the held-out part of the first fold of the search's validation protocol
    (:func:`warmstart.validation.plan_validation`). The derived cell is then retrained from scratch
    and scored like every candidate (``objective.run``: the ``nas_candidate`` recipe through
    ``run_recipe``) and told to the study. A study that already holds a finished DARTS trial is not
    searched again (a resumed run reuses it).

    Args:
        objective: The search's :class:`~warmstart.search.nas.CandidateObjective`.
        study: The study (single objective).
        budget: The search budget: with a time budget, half of it for the one-shot search;
            with a trial budget, 10 epochs per trial.
        t0: ``time.monotonic()`` when the search started.

    Returns:
        ``alpha_change``, ``ops`` and ``search_epochs`` (empty ops when an earlier run's trial is reused).

    Raises:
        ConfigError: the budget ran out before the derived cell could be retrained.
    """
    import copy
    import warnings

    import optuna
    from optuna.trial import TrialState

    from warmstart.backbones.classifier import HeadSpec
    from warmstart.backbones.neck import cut_dim
    from warmstart.search._candidate import freeze_stages, prefix_features
    from warmstart.validation import plan_validation

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.user_attrs.get("darts")]
    if done:
        t = done[-1]
        return {"alpha_change": t.user_attrs.get("alpha_change"), "ops": [], "search_epochs": 0, "resumed": True}
    base = objective.base
    cut = max(int(c) for c in objective.space.choices.get("cut", (base.backbone.num_stages,)))
    model = copy.deepcopy(base)
    model.depth = cut
    freeze_stages(model, cut)
    fold = plan_validation(objective.task, "auto", seed=objective.seed).folds[0]
    if fold.x_val is None or fold.y_val is None:
        raise ConfigError("DARTS needs labelled target examples to train its architecture weights")
    ftr = prefix_features(model, cut, fold.x_train)
    fva = prefix_features(model, cut, fold.x_val)
    modality = "image" if ftr.dim() == 4 else "tabular"
    if budget.seconds is not None:  # half the budget for the one-shot search, the rest to retrain
        search_deadline: float | None = t0 + 0.5 * budget.seconds
        epochs = 200
    else:
        search_deadline, epochs = None, 10 * int(budget.trials or 1)
    res = darts_search(ftr, fold.y_train, fva, fold.y_val, objective.task.n_classes, modality=modality,
                       epochs=epochs, deadline=search_deadline, seed=objective.seed)
    if budget.seconds is not None and time.monotonic() > t0 + budget.seconds:
        raise ConfigError(f"budget {budget} is too small for one candidate: no architecture finished training; "
                          f"give a larger --budget (one DARTS epoch took {res.seconds:.1f} s)")
    spec = {"cut": cut, "freeze": cut, "neck": cell_spec(cut_dim(model.backbone, cut), res, 4, 16, modality),
            "head": HeadSpec().to_json()}
    dists: dict[str, Any] = {"cut": optuna.distributions.CategoricalDistribution((cut,))}
    for e, _ in enumerate(res.ops):
        dists[f"edge{e}"] = optuna.distributions.CategoricalDistribution(tuple(res.candidates))
    study.enqueue_trial({"cut": cut, **{f"edge{e}": op for e, op in enumerate(res.ops)}})
    with warnings.catch_warnings():  # Optuna's heartbeat runs only inside optimize; this is one trial
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask(dists)
    for k, v in {"darts": True, "alpha_change": res.alpha_change, "search_epochs": res.epochs,
                 "search_seconds": res.seconds}.items():
        trial.set_user_attr(k, v)
    objective.deadline = None  # the derived cell is always retrained once, even if that overruns the budget
    try:
        values = objective.run(trial, {**spec, "init": {"seed": objective.seed}})
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    study.tell(trial, values)
    return {"alpha_change": res.alpha_change, "ops": res.ops, "search_epochs": res.epochs}
