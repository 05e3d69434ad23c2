"""A schedule fitted to a deadline: the trainer's horizon and :class:`DeadlineHorizon`."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from warmstart.engine import Callback, StepInfo, TrainConfig, Trainer, cross_entropy_step
from warmstart.engine.horizon import KEEP_SHARE, DeadlineHorizon
from warmstart.engine.trainer import lr_factor


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    return torch.randn(64, 4, generator=g) + y[:, None].float(), y


def _trainer(*callbacks: Callback, epochs: int = 10, seed: int = 0) -> tuple[Trainer, list[tuple[float, float]]]:
    """A small trainer (16 steps an epoch, cosine) and the (learning rate, progress) of each of its steps."""
    torch.manual_seed(seed)
    model = nn.Linear(4, 2)
    seen: list[tuple[float, float]] = []
    step = cross_entropy_step(0.0)

    def logged(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, info: StepInfo) -> torch.Tensor:
        seen.append((trainer.optimizer.param_groups[0]["lr"], info.progress))
        return step(m, xb, yb, info)

    config = TrainConfig(epochs=epochs, batch_size=4, lr=0.1, device="cpu", progress=False, seed=seed)
    trainer = Trainer(model, config, callbacks=list(callbacks), step_fn=logged)
    return trainer, seen


class _Fixed(Callback):
    """Shortens the schedule to ``to`` steps once ``at`` steps are done."""

    def __init__(self, at: int, to: int) -> None:
        self.at, self.to = at, to

    def horizon(self, step: int, total: int) -> int | None:
        return self.to if step >= self.at else None


class _Slow(Callback):
    """Sleeps after each step, so a run takes a known time."""

    def on_batch_end(self, step: int, model: nn.Module) -> None:
        time.sleep(0.004)


def test_a_shortened_schedule_spans_the_shortened_run_and_ends_it() -> None:
    trainer, seen = _trainer(_Fixed(at=40, to=80))
    hist = trainer.fit(*_data())
    assert hist.steps == 80  # of 160 planned
    assert "shortened to 80 of 160" in str(hist.stopped_early)
    lrs, progress = zip(*seen, strict=True)
    assert progress[39] == 39 / 160 and progress[40] == 40 / 80  # progress and the rate follow the new horizon
    assert lrs[40] == 0.1 * lr_factor(40, 80, 0, "cosine")
    assert progress[-1] == 79 / 80
    assert lrs[-1] < 0.1 * 0.01  # the cosine schedule annealed by step 80, not half-way as when cut there
    cut, seen_cut = _trainer()
    cut.fit(*_data())
    assert seen_cut[79][0] > 0.1 * 0.4  # the full schedule at the same step


def test_a_horizon_never_goes_below_the_steps_done() -> None:
    trainer, _ = _trainer(_Fixed(at=30, to=5))
    assert trainer.fit(*_data()).steps == 30


def test_a_run_with_the_time_keeps_its_schedule_and_its_result() -> None:
    far = DeadlineHorizon(time.monotonic() + 3600)
    trainer, seen = _trainer(far)
    trainer.fit(*_data())
    plain, seen_plain = _trainer()
    plain.fit(*_data())
    assert far.shortened_to is None and seen == seen_plain
    for a, b in zip(trainer.model.parameters(), plain.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_run_the_deadline_would_cut_anneals_by_it() -> None:
    slow = _Slow()
    planned = 160
    start = time.monotonic()
    # about 0.65 s for 160 steps of at least 4 ms: a deadline at 0.3 s leaves well under 98% of them
    horizon = DeadlineHorizon(start + 0.3)
    trainer, seen = _trainer(slow, horizon)
    hist = trainer.fit(*_data())
    assert horizon.shortened_to is not None and horizon.planned == planned
    assert horizon.shortened_to < KEEP_SHARE * planned
    assert hist.steps == horizon.shortened_to  # the run ended where its schedule did
    assert seen[-1][0] < 0.1 * 0.05 and seen[-1][1] > 0.9


class _SlowFirst(Callback):
    """Sleeps after each of the first ``steps`` steps only: a run slowed, then not (another job ended)."""

    def __init__(self, steps: int, seconds: float) -> None:
        self.steps, self.seconds, self.done = steps, seconds, 0

    def on_batch_end(self, step: int, model: nn.Module) -> None:
        self.done += 1
        if self.done <= self.steps:
            time.sleep(self.seconds)


def test_a_schedule_shortened_while_the_run_was_slow_grows_back_when_it_speeds_up() -> None:
    start = time.monotonic()
    # 40 steps of at least 15 ms (0.6 s), then the other 120 in well under the 0.4 s left: at the slow pace only
    # about 67 of the 160 planned steps fit by the deadline, at the fast one all of them
    horizon = DeadlineHorizon(start + 1.0)
    trainer, seen = _trainer(_SlowFirst(40, 0.015), horizon)
    hist = trainer.fit(*_data())
    assert seen[30][1] > 30 / 100  # shortened to fewer than 100 steps while slow (progress = step / horizon)
    assert hist.steps >= 120  # then lengthened again: a horizon that only shrank would have ended it by step 100
    assert time.monotonic() - start < 1.5


class _Clock:
    """A ``time.monotonic`` set by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _projected(monkeypatch, **kwargs: float) -> DeadlineHorizon:
    """A horizon whose first projection finds 950 of 1,000 planned steps fitting: 0.1 s a step, 100 steps done
    at 10 s, a deadline at 95 s."""
    clock = _Clock()
    monkeypatch.setattr("warmstart.engine.horizon.time.monotonic", clock)
    horizon = DeadlineHorizon(95.0, **kwargs)
    assert horizon.horizon(0, 1000) is None  # the first step sets the pace's start
    clock.now = 10.0
    horizon.horizon(100, 1000)
    return horizon


def test_a_near_miss_keeps_its_schedule_unless_keep_share_is_one(monkeypatch) -> None:
    kept = _projected(monkeypatch)
    assert 0.95 >= KEEP_SHARE and kept.shortened_to is None  # 95% of the steps: the same fit as without a deadline
    shortened = _projected(monkeypatch, keep_share=1.0)
    assert shortened.shortened_to == 950 and shortened.planned == 1000


def test_keep_share_must_be_a_share() -> None:
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="keep_share"):
            DeadlineHorizon(1.0, keep_share=bad)
