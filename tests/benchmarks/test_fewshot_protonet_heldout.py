"""The held-out protonet selection script runs end to end (--quick) and never draws evaluation episodes."""

from __future__ import annotations

import json

import pytest

from benchmarks import fewshot_protonet_heldout as heldout


def test_quick_run_prints_one_record(capsys: pytest.CaptureFixture[str]) -> None:
    assert heldout.main(["half", "--quick", "metric=cosine", "rotation_classes=false"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["params"]["metric"] == "cosine" and record["params"]["rotation_classes"] is False
    assert record["params"]["source_classes"] == "0,1,2,3,4"
    for pool in ("mnist_test", "digits_train"):
        assert 0.0 <= record[pool]["accuracy"] <= 1.0 and record[pool]["episodes"] == 3


def test_params_and_seed() -> None:
    assert heldout.parse_params(["a=1", "b=true", "c=cosine"]) == {"a": 1, "b": True, "c": "cosine"}
    with pytest.raises(ValueError, match="key=value"):
        heldout.parse_params(["oops"])
    from benchmarks import fewshot_episodes

    assert heldout.HELD_OUT_SEED != fewshot_episodes.SEED  # other episodes than the benchmark's
