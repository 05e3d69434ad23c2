"""The SSL linear-probe module: quick mode runs, rows in run_probes' format, an honest held-out split."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import torch

from benchmarks import _ssl_probe
from warmstart.tasks import get_task


def test_quick_probes_and_ablation(tmp_path: Path) -> None:
    mnist, digits = get_task("mnist5k"), get_task("digits")
    t0 = time.process_time()
    rows, facts = _ssl_probe.run_ssl_probes({}, tmp_path, mnist, digits, quick=True)
    ablation = _ssl_probe.run_ssl_ablation({}, tmp_path, mnist, digits, quick=True)
    cpu_seconds = time.process_time() - t0
    assert [r["source"] for r in rows] == list(facts)
    assert any(r["source"].startswith("supervised") for r in rows)
    assert {"SimCLR mnist5k + digits (new defaults)", "SimCLR mnist5k + digits (old settings)",
            "BYOL mnist5k + digits (defaults)"} <= {r["source"] for r in rows}
    for r in rows:  # the format of benchmarks.fewshot_episodes.run_probes
        assert set(r) == {"source", "accuracy", "ci95", "seeds", "per_seed"}
        assert 0.0 <= r["accuracy"] <= 1.0 and r["seeds"] == 1
    assert all(f["seconds"] > 0 for f in facts.values())
    assert [(r["factor"], r["value"]) for r in ablation][:2] == [("reference", "new defaults"),
                                                                 ("feature standardization", "off")]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in ablation)
    # CPU time, not wall time (the machine is shared): quick mode is meant to take < 20 s; this bound,
    # loose for 2 threads, catches a budget that stopped being tiny
    assert cpu_seconds < 40


def _counts(x: torch.Tensor) -> Counter[bytes]:
    return Counter(img.numpy().tobytes() for img in x)


def test_held_out_split_partitions_digits_train_and_never_uses_test() -> None:
    digits = get_task("digits")
    assert digits.x_val is not None and digits.y_val is not None
    tune = _ssl_probe.held_out_digits(digits)
    n_val = len(digits.y_val)
    held = tune.x_test[: len(tune.y_test) - n_val]
    # kept train + held-out images are exactly digits' train split (a partition), then its validation split
    assert _counts(tune.x_train) + _counts(held) == _counts(digits.x_train)
    assert torch.equal(tune.x_test[len(held):], digits.x_val) and torch.equal(tune.y_test[len(held):], digits.y_val)
    assert len(held) == sum(int(0.3 * int(c)) for c in torch.bincount(digits.y_train))
    assert int(torch.bincount(tune.y_train, minlength=10).min()) >= 5  # 5 labels per class can be drawn
    assert torch.equal(_ssl_probe.held_out_digits(digits).y_test, tune.y_test)  # deterministic
