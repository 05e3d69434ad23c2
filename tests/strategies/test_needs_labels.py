"""``--shots 0`` with a strategy that needs target labels stops before any work, naming those that do not."""

from __future__ import annotations

import pytest

from warmstart.cli.main import main
from warmstart.errors import ConfigError
from warmstart.strategies import get_strategy, list_strategies
from warmstart.strategies._registry import strategy_class
from warmstart.tasks import get_task

# the methods that train on source labels and the target's unlabelled pool only
LABEL_FREE = ["cdan", "coral", "dann", "mcc", "mmd", "self_training", "source_only"]


def test_label_free_strategies_are_the_domain_adaptation_ones() -> None:
    assert sorted(n for n in list_strategies() if not strategy_class(n).needs_labels) == LABEL_FREE


@pytest.mark.parametrize("name", [n for n in list_strategies() if n not in LABEL_FREE])
def test_labelled_strategy_refuses_zero_shots_before_any_work(name: str) -> None:
    task = get_task("digits").few_shot(0)
    # source=None: a strategy that started working would fail on the missing source instead
    strategy = get_strategy(name)
    with pytest.raises(ConfigError) as info:
        strategy.fit(task, None)
    msg = str(info.value)
    assert msg == (f"strategy {name!r} needs labelled target examples and the task has none (--shots 0); "
                   f"strategies that train without target labels: {', '.join(LABEL_FREE)}")
    assert not hasattr(strategy, "info_")  # refused before fit set anything up


def test_cli_zero_shots_finetune_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["transfer", "--task", "digits", "--strategy", "finetune", "--shots", "0", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: strategy 'finetune' needs labelled target examples and the task has none (--shots 0); "
                   "strategies that train without target labels: cdan, coral, dann, mcc, mmd, self_training, "
                   "source_only"]
    assert code in (0, 2)  # 2 once main() returns the commands' exit codes (issue 12, CLI part)
