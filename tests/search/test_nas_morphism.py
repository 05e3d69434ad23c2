"""Net2Net morphisms: a morphed child computes its parent's function before training (eval mode, BN)."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from warmstart.backbones._registry import create_backbone
from warmstart.backbones.classifier import Classifier, InputSpec
from warmstart.search.morphism import base_arch, identity_block, morph, remap_in, remap_out, wider_mapping
from warmstart.search.nas_space import NASSpace


def _trained_like(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    bb = create_backbone("smallcnn", in_chans=1, input_size=(28, 28), widths=(8, 16, 32))
    m = Classifier(bb, 10, input_spec=InputSpec("image", [0.1], [0.3], None))
    m.train()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for _ in range(3):
            m(torch.rand(8, 1, 28, 28))
    return m.eval()


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_identity_block_is_identity_in_eval_mode(kernel: int) -> None:
    blk = identity_block(6, kernel).eval()
    x = torch.relu(torch.randn(2, 6, 7, 7))
    assert torch.allclose(blk(x), x, atol=1e-6)
    lin = identity_block(5, modality="tabular")
    v = torch.rand(3, 5)
    assert torch.allclose(lin(v), v)


def test_wider_copies_units_and_divides_outgoing_weights() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(3, 2)
    x = torch.randn(5, 4)
    ref = b(torch.relu(a(x)))
    mp = wider_mapping(3, 7, gen)
    a2, _ = remap_out(a, None, mp[0])
    b2 = remap_in(b, mp)
    assert a2.out_features == 7 and b2.in_features == 7
    assert torch.allclose(b2(torch.relu(a2(x))), ref, atol=1e-6)


def test_morphed_children_equal_parent_before_training() -> None:
    """Grow a chain of children with preserving mutations; every one matches its parent to 1e-5."""
    parent = _trained_like()
    x = torch.rand(6, 1, 28, 28)
    p_arch = base_arch(parent)
    steps = [
        {**p_arch, "blocks": 1, "block_width": 32, "kernel": 3},  # deeper (identity block)
        {**p_arch, "blocks": 1, "block_width": 64, "kernel": 3},  # wider block
        {**p_arch, "blocks": 1, "block_width": 64, "kernel": 5},  # larger kernel (zero-padded)
        {**p_arch, "blocks": 2, "block_width": 64, "kernel": 5},  # deeper again
        {**p_arch, "blocks": 2, "block_width": 64, "kernel": 5, "head_depth": 1, "head_width": 64},  # deeper head
        {**p_arch, "blocks": 2, "block_width": 64, "kernel": 5, "head_depth": 1, "head_width": 128},  # wider head
        {**p_arch, "blocks": 2, "block_width": 64, "kernel": 5, "head_depth": 1, "head_width": 128,
         "dropout": 0.2},
    ]
    model, arch = parent, p_arch
    for i, child in enumerate(steps):
        new, rep = morph(model, arch, child, seed=i)
        new.eval()
        assert rep["preserving"], rep
        with torch.no_grad():
            diff = (new(x) - model(x)).abs().max().item()
        assert diff < 1e-5, (i, rep, diff)
        model, arch = new, child
    assert len(model.neck) == 2 and model.neck_spec["blocks"][1] == {"width": 64, "kernel": 5}
    with torch.no_grad():
        assert (model(x) - parent(x)).abs().max().item() < 1e-5


def test_random_mutations_report_honestly() -> None:
    """Whenever morph claims to preserve the function, it does; other mutations still produce valid models."""
    space = NASSpace(3, "image", block_width=(8, 16, 32), head_width=(16, 32))
    rng = random.Random(1)
    model = _trained_like(1)
    raw = space.sample(rng)
    arch = base_arch(model)
    x = torch.rand(4, 1, 28, 28)
    for step in range(25):
        raw = space.mutate(raw, rng)
        child = space.resolve(raw)
        new, rep = morph(model, arch, child, seed=step)
        new.eval()
        with torch.no_grad():
            out = new(x)
            if rep["preserving"]:
                assert (out - model(x)).abs().max().item() < 1e-5, rep
        assert out.shape == (4, 10)
        model, arch = new, child


def test_tabular_backbone_morphs_with_linear_blocks() -> None:
    torch.manual_seed(0)
    bb = create_backbone("mlp", in_chans=5, hidden=(12, 8))
    parent = Classifier(bb, 3).eval()
    x = torch.randn(7, 5)
    arch = base_arch(parent)
    child = {**arch, "blocks": 2, "block_width": 16, "head_depth": 1, "head_width": 20}
    new, rep = morph(parent, arch, child)
    new.eval()
    assert rep["preserving"] and new.neck_spec["modality"] == "tabular"
    with torch.no_grad():
        assert (new(x) - parent(x)).abs().max().item() < 1e-5
