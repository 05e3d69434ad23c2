"""benchmarks/auto.py --quick runs end to end and writes its table."""

from __future__ import annotations

from benchmarks import auto as bench


def test_auto_benchmark_quick(tmp_path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "digits-5shot" in text and "command:" in text
    assert (tmp_path / "auto.csv").read_text().count("\n") == 2
