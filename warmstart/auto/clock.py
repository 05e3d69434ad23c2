"""The wall-time plan of one auto run: a time budget bounds the whole command.

The clock starts when :func:`warmstart.auto.auto` is called (the CLI calls it
right after parsing its options). Of a time budget of B seconds:

* pretraining the sources that have only a task may use at most
  :data:`PRETRAIN_SHARE` of what is left of B when the first pretraining starts,
  split over those sources (:class:`~warmstart.search.budget.DeadlineStop`: no
  epoch is started that is predicted not to fit, and training stops at the step
  where the time runs out);
* the search starts a trial only when the longest trial so far and the final fit
  of the incumbent (the trial the final choice would pick now were its final fit given the
  seconds that may be kept for it, :func:`warmstart.auto.choice.incumbent_final_fit`) still fit
  before the end: that final fit
  is the incumbent's recipe at its strategy's full length (:mod:`warmstart.auto.final_fit`),
  its seconds predicted from the trial's measured fit time, and at most
  :data:`~warmstart.auto.final_fit.FINAL_SHARE` of the time left when the first trial
  completed is kept for it; before any trial has completed, a trial may use
  half of the time left and the other half is kept for the retraining; with a prior,
  a trial that fits starts only when it is expected to add more to the returned model than
  its seconds take from that final fit (:mod:`warmstart.auto.cost_stop`). A running
  trial is pruned when its next epoch would not fit or its time is up; a trial cut
  short that way does not count as the longest (a cheaper recipe may still fit);
* the retraining of the winner trains up to the end, less :data:`FINISH_SECONDS` kept for
  the test evaluation, the checkpoint and the report, and stops at the step where that time
  runs out (an epoch that may not finish is started all the same: the fit's last weights are
  its model); when it is projected not to finish, its learning-rate schedule is shortened to
  the steps that fit, so that it anneals by the end (:mod:`warmstart.engine.horizon`).

What can still run over: work outside training loops (loading data, ranking
sources, evaluating) and writing the outputs.

A trial budget (``--budget 20``) bounds the number of trials only: pretraining
and retraining then take the time they need.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

#: largest fraction of a time budget that pretraining sources may use
PRETRAIN_SHARE = 0.4
#: seconds kept after the retraining for the test evaluation, saving the model and writing the report
FINISH_SECONDS = 3.0


@dataclass
class Clock:
    """Where one auto run stands against its time budget (``time.monotonic()`` seconds).

    Attributes:
        seconds: The time budget, or None for a trial budget.
        start: When the run started.
        phases: Seconds spent per phase (``setup``, ``pretraining``, ``ranking``, ``search``, ``retrain``,
            ``finish``).
    """

    seconds: float | None
    start: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)
    _pretrain_end: float | None = field(default=None, repr=False)

    @property
    def end(self) -> float | None:
        """When the budget runs out (None for a trial budget)."""
        return None if self.seconds is None else self.start + self.seconds

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.start

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the seconds spent in the block to ``phases[name]``."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - t0

    def pretrain_deadline(self, sources_left: int) -> float | None:
        """Deadline of the next of ``sources_left`` pretrainings: an equal part of what is left of the share.

        The share is fixed at the first call: :data:`PRETRAIN_SHARE` of the budget left then.
        """
        if self.end is None:
            return None
        now = time.monotonic()
        if self._pretrain_end is None:
            self._pretrain_end = now + PRETRAIN_SHARE * max(0.0, self.end - now)
        return now + max(0.0, self._pretrain_end - now) / max(1, sources_left)

    def trial_deadline(self, longest_trial: float | None, retrain: float | None) -> float | None:
        """When a new trial must be over, or None when none should start (always None for a trial budget).

        Args:
            longest_trial: Wall seconds of the longest trial so far that the budget did not cut short
                (None before the first).
            retrain: Predicted seconds of the winner's retraining (None before a trial completed).
        """
        if self.end is None:
            return None
        now = time.monotonic()
        left = self.end - FINISH_SECONDS - now
        keep = retrain if retrain is not None else left / 2
        if left - keep <= 0 or (longest_trial is not None and longest_trial > left - keep):
            return None
        return now + left - keep

    def left(self) -> float | None:
        """Seconds left of the budget, less :data:`FINISH_SECONDS` (None for a trial budget)."""
        return None if self.end is None else max(0.0, self.end - FINISH_SECONDS - time.monotonic())

    def retrain_deadline(self) -> float | None:
        """When the winner's retraining must be over (None for a trial budget)."""
        return None if self.end is None else self.end - FINISH_SECONDS

    def to_json(self) -> dict[str, float | None]:
        """Seconds per phase, total so far, and the budget (for run.json and the report)."""
        return {**{k: round(v, 2) for k, v in self.phases.items()}, "total": round(self.elapsed(), 2),
                "budget": self.seconds}
