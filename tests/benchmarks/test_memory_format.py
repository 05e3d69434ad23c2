"""The memory-format benchmark measures both layouts of one model."""

from __future__ import annotations

from pathlib import Path

from benchmarks import memory_format


def test_quick_run_reports_both_formats(tmp_path: Path) -> None:
    assert memory_format.main(["--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "smallcnn" in text and "step speed-up" in text


def test_the_two_models_start_from_one_initialization() -> None:
    import copy

    import torch

    base = memory_format.build("smallcnn", 1)
    cl = copy.deepcopy(base).to(memory_format=torch.channels_last)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(base.eval()(x), cl.eval()(x), atol=1e-5)
