"""The channels-last check pairs re-run single strategies with the stored ones and re-picks the baseline."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import auto_layout_check


def _write(path: Path, rows: list[dict]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _single(seed: int, strategy: str, acc: float) -> dict:
    from benchmarks._revision import current_revision

    return {"situation": "digits-5shot", "seed": seed, "arm": "single", "strategy": strategy, "accuracy": acc,
            "label": f"{strategy} | seed {seed}", "revision": current_revision(strategy)}


def test_check_compares_runs_and_repicks_the_best(tmp_path: Path) -> None:
    out, check = tmp_path / "out", tmp_path / "check"
    auto = [{"situation": "digits-5shot", "seed": s, "arm": "auto_prior", "auto_revision": 32, "accuracy": 0.98}
            for s in (0, 1)]
    _write(out, [*auto, _single(0, "mcc", 0.97), _single(1, "mcc", 0.97), _single(0, "cdan", 0.99),
                 _single(1, "cdan", 0.99)])
    _write(check, [_single(0, "mcc", 0.98), _single(1, "mcc", 0.96), _single(0, "cdan", 0.95),
                   _single(1, "cdan", 0.95)])
    assert auto_layout_check.main(["--check", str(check), "--out", str(out)]) == 0
    text = (check / "README.md").read_text()
    assert "| 4 | -0.0200 | 1 / 0 / 3 |" in text  # (+0.01 - 0.01 - 0.04 - 0.04) / 4
    assert "| digits-5shot | 0 1 | mcc |" in text  # mcc is now the better re-run strategy (0.97 against 0.95)
