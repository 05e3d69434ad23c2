"""The README's main job, run in-process through ``main()``."""

from __future__ import annotations


def test_quickstart_json_compares_scratch_and_finetune(tmp_path, run_cli) -> None:
    run = run_cli("quickstart", "--epochs", "1", "--shots", "2", "--json", "-o", str(tmp_path / "src"))
    assert run.code == 0, run.stderr
    out = run.json()  # stdout holds the JSON only (progress goes to stderr)
    names = [r["strategy"] for r in out["results"]]
    assert names == ["scratch", "finetune"]
    for r in out["results"]:
        assert 0.0 <= r["accuracy"] <= 1.0
    # finetune reuses the mnist head: digit classes match
    assert out["results"][1]["head"] == "reuse"
    assert (tmp_path / "src" / "meta.json").exists()
