"""The README's main job, run in-process through ``main()``."""

from __future__ import annotations


def test_quickstart_json_compares_scratch_and_finetune(tmp_path, run_cli) -> None:
    """The README's main job, and its promise: transfer beats training from scratch.

    Measured on this machine (seed 0, 2 pretraining epochs, 1 label per class): source 0.919 on
    mnist5k, scratch 0.575 and finetune 0.661 on digits. The default quickstart (5 epochs, 5 labels
    per class) gave scratch 0.903, finetune 0.925.
    """
    run = run_cli("quickstart", "--epochs", "2", "--shots", "1", "--json", "-o", str(tmp_path / "src"))
    assert run.code == 0, run.stderr
    out = run.json()  # stdout holds the JSON only (progress goes to stderr)
    names = [r["strategy"] for r in out["results"]]
    assert names == ["scratch", "finetune"]
    for r in out["results"]:
        assert 0.0 <= r["accuracy"] <= 1.0
    # finetune reuses the mnist head: digit classes match
    assert out["results"][1]["head"] == "reuse"
    assert (tmp_path / "src" / "meta.json").exists()
    scratch, finetune = (r["accuracy"] for r in out["results"])
    assert finetune >= scratch + 0.04, f"quickstart: finetune {finetune:.3f} vs scratch {scratch:.3f}"
