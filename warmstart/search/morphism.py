"""Function-preserving network morphisms (Net2Net) that turn a parent into a child architecture.

* **Deeper** (Net2DeeperNet, Chen, Goodfellow & Shlens, ICLR 2016): insert a block
  initialized to the identity — a conv with an identity kernel whose batch norm
  is the identity in eval mode, or an identity linear layer — after a ReLU, so
  the following ReLU changes nothing.
* **Wider** (Net2WiderNet): copy units by a mapping ``g`` (the first units keep
  their place, new ones copy random existing units) and divide the consumer's
  incoming weights of each copied unit by its copy count.
* **Larger kernel**: zero-pad a kernel (Elsken, Metzen & Hutter, "Simple and
  efficient architecture search for CNNs", 2018, list these morphisms).

:func:`morph` maps a model of one point of a :class:`~warmstart.search.nas_space.NASSpace`
to another, using these morphisms where they preserve the function and reusing
every weight that still fits where they cannot (a shallower cut, fewer blocks,
narrower layers, a different activation). The report says which happened.
The identity holds in eval mode; batch norm in training mode normalizes with
batch statistics, so training starts from the parent's function only in eval.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier, HeadSpec, build_head
from warmstart.backbones.neck import blocks_spec, cut_dim, neck_block

Mapping_ = tuple[Tensor, Tensor]  # (g: new unit -> original unit, counts per original unit)


def identity_block(channels: int, kernel: int = 3, modality: str = "image") -> nn.Sequential:
    """A new block computing the identity on non-negative inputs (eval mode)."""
    blk = neck_block(channels, channels, kernel, modality)
    with torch.no_grad():
        lin: Any = blk[0]
        lin.weight.zero_()
        if modality == "image":
            c = kernel // 2
            for i in range(channels):
                lin.weight[i, i, c, c] = 1.0
            bn: Any = blk[1]
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.weight.fill_(math.sqrt(1.0 + bn.eps))
            bn.bias.zero_()
        else:
            lin.weight.copy_(torch.eye(channels))
            lin.bias.zero_()
    return blk


def _clone_layer(layer: Any, weight: Tensor, bias: Tensor | None) -> Any:
    if isinstance(layer, nn.Conv2d):
        new: Any = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2],
                                   padding=weight.shape[2] // 2, bias=bias is not None)
    else:
        new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)  # type: ignore[union-attr]
    return new


def remap_out(layer: Any, norm: Any, g: Tensor) -> tuple[Any, Any]:
    """Output units ``j`` of the new layer (and its norm) copy units ``g[j]`` of ``layer``."""
    w = layer.weight.detach().index_select(0, g)
    b = layer.bias.detach().index_select(0, g) if layer.bias is not None else None
    new = _clone_layer(layer, w, b)
    new_norm: Any = None
    if isinstance(norm, nn.BatchNorm2d):
        new_norm = nn.BatchNorm2d(len(g), eps=norm.eps, momentum=norm.momentum)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(new_norm, name).copy_(getattr(norm, name).detach().index_select(0, g))
    elif isinstance(norm, nn.LayerNorm):
        new_norm = nn.LayerNorm(len(g), eps=norm.eps)
        with torch.no_grad():
            new_norm.weight.copy_(norm.weight.detach().index_select(0, g))
            new_norm.bias.copy_(norm.bias.detach().index_select(0, g))
    return new, new_norm


def remap_in(layer: Any, mapping: Mapping_) -> Any:
    """Input ``j`` of the new consumer reads old input ``g[j]`` with weight divided by its copy count."""
    g, counts = mapping
    w = layer.weight.detach().index_select(1, g)
    scale = counts.index_select(0, g).to(w.dtype).clamp_min(1)
    shape = (1, -1) + (1,) * (w.dim() - 2)
    w = w / scale.reshape(shape)
    return _clone_layer(layer, w, layer.bias.detach() if layer.bias is not None else None)


def wider_mapping(old: int, new: int, gen: torch.Generator) -> Mapping_:
    """Net2WiderNet's mapping: units ``0..old-1`` stay, extra units copy random ones (truncation if narrower)."""
    if new <= old:
        g = torch.arange(new)
    else:
        g = torch.cat([torch.arange(old), torch.randint(0, old, (new - old,), generator=gen)])
    return g, torch.bincount(g, minlength=old)


def compose(first: Mapping_ | None, second: Mapping_) -> Mapping_:
    """Mapping of ``second`` applied after ``first`` (both map new units to older ones)."""
    if first is None:
        return second
    g = first[0].index_select(0, second[0])
    return g, torch.bincount(g, minlength=len(first[1]))


def resize_kernel(conv: nn.Conv2d, k: int) -> tuple[nn.Conv2d, bool]:
    """Zero-pad (function-preserving) or centre-crop (not) a same-padded conv kernel to ``k``×``k``."""
    k0 = conv.kernel_size[0]
    w = conv.weight.detach()
    if k > k0:
        p = (k - k0) // 2
        w = nn.functional.pad(w, (p, p, p, p))
    elif k < k0:
        c = (k0 - k) // 2
        w = w[:, :, c:c + k, c:c + k]
    new = _clone_layer(conv, w.contiguous(), conv.bias.detach() if conv.bias is not None else None)
    return new, k >= k0  # type: ignore[return-value]


def base_arch(model: Classifier) -> dict[str, Any]:
    """The space point a plain source model sits at: every stage, no new blocks, its own head."""
    cut = model.backbone.num_stages if model.depth is None else int(model.depth)
    hs = model.head_spec
    return {"cut": cut, "freeze": 0, "blocks": 0, "block_width": None, "head_depth": len(hs.hidden),
            "head_width": hs.hidden[0] if hs.hidden else None, "activation": hs.activation,
            "dropout": hs.dropout, "norm": hs.norm}


def _neck_blocks(model: Classifier) -> list[Any]:
    return [b for b in model.neck] if isinstance(model.neck, nn.Sequential) else []


def morph(model: Classifier, parent: dict[str, Any], child: dict[str, Any], *,
          seed: int = 0) -> tuple[Classifier, dict[str, Any]]:
    """A copy of ``model`` (at space point ``parent``) turned into space point ``child``.

    Args:
        model: The parent model (not modified).
        parent, child: Resolved :class:`NASSpace` points (``cut``, ``blocks``, ``block_width``,
            ``kernel``, ``head_depth``, ``head_width``, ``activation``, ``dropout``, ``norm``).
        seed: Seeds the choice of copied units.

    Returns:
        The child model and a report: ``preserving`` (True when the child computes the
        parent's function in eval mode) and ``ops`` (what was done).
    """
    gen = torch.Generator().manual_seed(int(seed))
    m = copy.deepcopy(model)
    bb = m.backbone
    modality = bb.modality if bb.modality in ("image", "tabular") else "tabular"
    ops: list[str] = []
    preserving = True
    cut = int(child["cut"])
    old_cut = bb.num_stages if m.depth is None else int(m.depth)
    parent_blocks = _neck_blocks(m)
    if cut != old_cut:
        ops.append(f"cut {old_cut}->{cut}")
        preserving = False
        parent_blocks = []
    m.depth = None if cut == bb.num_stages and model.depth is None else cut
    d = cut_dim(bb, cut)
    pending: Mapping_ | None = None
    n_blocks = int(child.get("blocks", 0))
    width = int(child.get("block_width") or 0)
    kernel = int(child.get("kernel", 3) or 3)
    new_blocks: list[nn.Module] = []
    for i in range(n_blocks):
        if i < len(parent_blocks):
            lin: Any = parent_blocks[i][0]
            norm: Any = parent_blocks[i][1] if modality == "image" else None
            if pending is not None:
                lin, pending = remap_in(lin, pending), None
            if isinstance(lin, nn.Conv2d) and lin.kernel_size[0] != kernel:
                lin, ok = resize_kernel(lin, kernel)
                preserving &= ok
                ops.append(f"block {i} kernel -> {kernel}")
        else:
            blk = identity_block(d, kernel, modality)
            lin, norm = blk[0], blk[1] if modality == "image" else None
            ops.append(f"deeper: identity block {i}")
        out = int(lin.weight.shape[0])
        if width != out:
            mp = wider_mapping(out, width, gen)
            preserving &= width > out
            lin, norm = remap_out(lin, norm, mp[0])
            pending = compose(pending, mp)
            ops.append(f"{'wider' if width > out else 'narrower'}: block {i} {out}->{width}")
        d = width
        parts = [lin, norm, nn.ReLU()] if modality == "image" else [lin, nn.ReLU()]
        new_blocks.append(nn.Sequential(*[p for p in parts if p is not None]))
    if len(parent_blocks) > n_blocks:
        preserving = False
        ops.append(f"removed {len(parent_blocks) - n_blocks} block(s)")
    m.neck = nn.Sequential(*new_blocks) if new_blocks else nn.Identity()
    m.neck_spec = blocks_spec(cut_dim(bb, cut), [{"width": d, "kernel": kernel}] * n_blocks, modality)
    m.feature_dim = d
    head_ok = _morph_head(m, parent, child, d, pending, gen, ops)
    preserving &= head_ok
    return m, {"preserving": bool(preserving), "ops": ops}


def _morph_head(m: Classifier, parent: dict[str, Any], child: dict[str, Any], d: int,
                pending: Mapping_ | None, gen: torch.Generator, ops: list[str]) -> bool:
    hd = int(child.get("head_depth", 0))
    hw = int(child.get("head_width") or 0)
    spec = HeadSpec(hidden=(hw,) * hd, activation=str(child.get("activation", "relu")),
                    dropout=float(child.get("dropout", 0.0)), norm=bool(child.get("norm", False)))
    old = m.head
    new_head = build_head(d, m.n_classes, spec)
    m.head_spec = spec
    m.head = new_head
    if old is None:
        return False
    lins: list[Any] = [x for x in old if isinstance(x, nn.Linear)]
    norms: list[Any] = [x for x in old if isinstance(x, nn.LayerNorm)]
    same_style = (str(parent.get("activation", "relu")) == spec.activation
                  and bool(parent.get("norm", False)) == spec.norm) or len(lins) == 1
    ok = True
    if pending is not None:
        lins[0] = remap_in(lins[0], pending)
    if lins[0].weight.shape[1] != d or not same_style or len(lins) - 1 > hd:
        ops.append("head rebuilt (weights reused where shapes match)")
        _copy_matching(new_head, lins, norms)
        return False
    extra = hd - (len(lins) - 1)
    for _ in range(extra):
        ident = nn.Linear(d, d)
        with torch.no_grad():
            ident.weight.copy_(torch.eye(d))
            ident.bias.zero_()
        lins.insert(0, ident)
        if spec.norm:
            norms.insert(0, nn.LayerNorm(d))
        ops.append("deeper: identity head layer")
    if extra and (spec.activation != "relu" or spec.norm):
        ok = False
    for k in range(hd):
        out = int(lins[k].weight.shape[0])
        if out != hw:
            mp = wider_mapping(out, hw, gen)
            ok &= hw > out and not spec.norm
            lins[k], nrm = remap_out(lins[k], norms[k] if spec.norm else None, mp[0])
            if spec.norm and nrm is not None:
                norms[k] = nrm
            lins[k + 1] = remap_in(lins[k + 1], mp)
            ops.append(f"{'wider' if hw > out else 'narrower'}: head layer {k} {out}->{hw}")
    _copy_matching(new_head, lins, norms)
    return ok


def _copy_matching(head: nn.Sequential, lins: list[Any], norms: list[Any]) -> None:
    tgt_l: list[Any] = [x for x in head if isinstance(x, nn.Linear)]
    tgt_n: list[Any] = [x for x in head if isinstance(x, nn.LayerNorm)]
    with torch.no_grad():
        for tgt, src in [*zip(tgt_l, lins, strict=False), *zip(tgt_n, norms, strict=False)]:
            if tgt.weight.shape == src.weight.shape:
                tgt.weight.copy_(src.weight)
                tgt.bias.copy_(src.bias)
    # the output layer is always the last one: align from the end when depths differ
    if len(tgt_l) != len(lins) and tgt_l[-1].weight.shape == lins[-1].weight.shape:
        with torch.no_grad():
            tgt_l[-1].weight.copy_(lins[-1].weight)
            tgt_l[-1].bias.copy_(lins[-1].bias)


def reinitialize(model: Classifier, seed: int) -> None:
    """Random (PyTorch default) initialization of the neck and head: the scratch twin of a candidate."""
    torch.manual_seed(int(seed))
    for mod in [*m_iter(model.neck), *m_iter(model.head)]:
        reset = getattr(mod, "reset_parameters", None)
        if callable(reset):
            reset()
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()


def m_iter(module: nn.Module | None) -> list[nn.Module]:
    """All submodules of ``module`` (empty for None)."""
    return [] if module is None else list(module.modules())
