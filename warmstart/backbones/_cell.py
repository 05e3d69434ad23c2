"""Cell operations shared by the DARTS search and the cells it derives.

A cell (Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019)
is a small DAG: node 0 is the (projected) input, node ``j`` is the sum over
``i < j`` of ``op_ij(node_i)``, and the cell outputs the concatenation of the
intermediate nodes. Operations keep the shape of their input, so any op fits
any edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn


class Zero(nn.Module):
    """The ``none`` operation: an edge that carries nothing."""

    def forward(self, x: Tensor) -> Tensor:
        return x * 0.0


def _conv(c: int, k: int, dilation: int = 1) -> nn.Module:
    pad = dilation * (k - 1) // 2
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c))


IMAGE_OPS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda c: Zero(),
    "skip": lambda c: nn.Identity(),
    "conv3": lambda c: _conv(c, 3),
    "conv5": lambda c: _conv(c, 5),
    "dil3": lambda c: _conv(c, 3, 2),
    "avg3": lambda c: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
    "max3": lambda c: nn.MaxPool2d(3, 1, 1),
}
TABULAR_OPS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda c: Zero(),
    "skip": lambda c: nn.Identity(),
    "fc_relu": lambda c: nn.Sequential(nn.Linear(c, c), nn.ReLU()),
    "fc_tanh": lambda c: nn.Sequential(nn.Linear(c, c), nn.Tanh()),
    "fc_gelu": lambda c: nn.Sequential(nn.Linear(c, c), nn.GELU()),
}


def op_table(modality: str) -> dict[str, Callable[[int], nn.Module]]:
    """The candidate operations for ``image`` (feature maps) or ``tabular`` (vectors)."""
    return IMAGE_OPS if modality == "image" else TABULAR_OPS


def n_edges(nodes: int) -> int:
    """Edges of a cell with ``nodes`` intermediate nodes (each node sees the input and all earlier nodes)."""
    return nodes * (nodes + 1) // 2


def edge_list(nodes: int) -> list[tuple[int, int]]:
    """(source node, target node) pairs in a fixed order; node 0 is the input."""
    return [(i, j) for j in range(1, nodes + 1) for i in range(j)]


def input_projection(in_dim: int, width: int, modality: str) -> nn.Module:
    """Project the cut backbone's output to the cell width."""
    if modality == "image":
        return nn.Sequential(nn.Conv2d(in_dim, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
    return nn.Sequential(nn.Linear(in_dim, width), nn.ReLU())


class DiscreteCell(nn.Module):
    """A derived cell: one operation per edge (``none`` edges are dropped).

    Args:
        in_dim: Channels (or width) of the input.
        width: Channels of every node.
        nodes: Intermediate nodes.
        ops: One op name per edge, in :func:`edge_list` order.
        modality: ``image`` or ``tabular``.
    """

    def __init__(self, in_dim: int, width: int, nodes: int, ops: Sequence[str], modality: str = "image") -> None:
        super().__init__()
        table = op_table(modality)
        if len(ops) != n_edges(nodes):
            raise ValueError(f"a cell of {nodes} nodes has {n_edges(nodes)} edges, got {len(ops)} ops")
        unknown = [o for o in ops if o not in table]
        if unknown:
            raise ValueError(f"unknown cell op {unknown[0]!r}; valid: {', '.join(table)}")
        self.nodes, self.ops_names = nodes, list(ops)
        self.pre = input_projection(in_dim, width, modality)
        self.edges = nn.ModuleList(table[o](width) for o in ops)
        self.out_dim = width * nodes

    def forward(self, x: Tensor) -> Tensor:
        states = [self.pre(x)]
        k = 0
        for j in range(1, self.nodes + 1):
            acc = None
            for i in range(j):
                if self.ops_names[k] != "none":
                    y = self.edges[k](states[i])
                    acc = y if acc is None else acc + y
                k += 1
            states.append(acc if acc is not None else torch.zeros_like(states[0]))
        return torch.cat(states[1:], dim=1)
