"""A schedule that ends by a deadline: shorten a run that the deadline would cut.

A training run stopped by a deadline before its planned steps keeps the weights of a schedule
stopped half-way: the learning rate has not annealed (a cosine schedule cut at 65% of its steps is
still at 27% of its peak; the domain-adaptation schedule lr/(1 + 10p)^0.75 at 133% of its final
value). Li, Yumer & Ramanan, "Budgeted Training: Rethinking Deep Neural Network Training Under
Resource Constraints", ICLR 2020, find that adjusting the schedule to the budget, so that it anneals
to its end when the budget ends, clearly beats off-the-shelf schedules cut by the budget, most of
all at small budgets. They propose a linear decay; here each strategy keeps its own schedule's shape,
compressed into the steps that fit.

:class:`DeadlineHorizon` projects, from the run's measured seconds per step, how many steps fit
before the deadline, and when that is clearly short of the planned steps it shortens the schedule
to them (:meth:`~warmstart.engine.callbacks.Callback.horizon`): the trainer then runs its learning-rate
schedule and :attr:`~warmstart.engine.trainer.StepInfo.progress` (which the adaptation strategies'
schedules follow) over that many steps and ends the run there. A run projected to finish, or to
reach nearly all of its steps, keeps its schedule untouched, so a fit that has the time is the
same fit it is without a deadline. The deadline itself is still enforced by
:class:`~warmstart.search.budget.DeadlineStop`; this callback only reshapes the schedule.

Each projection uses the pace of the steps since the previous one, and may lengthen the schedule again
(up to the planned steps) as well as shorten it: the pace of a run changes with what else the machine
does. At equal time on ``mnist5k-b-inverted``, with short jobs running on the other core during the
first part of auto's final fits, the pace since the first step, and a horizon that only shrank, cut
mcc's schedule to 1,447 of 2,261 steps, and the fit ended 27 s before its deadline, 30 s of a
202 s budget unused (revision 24; those runs were discarded as measured under load and rerun
alone, commit b451323, so they are not in ``benchmarks/results/auto/equal-time``).
"""

from __future__ import annotations

import math
import time

from torch import nn

from warmstart.engine.callbacks import Callback

#: a run projected to reach at least this share of its planned steps keeps its schedule: cut there, the
#: schedule has nearly ended (cosine: 2.4% of its peak; the adaptation schedule 7% above its final rate), while
#: two runs of the same work on one core differ by up to 4-5% in seconds (``benchmarks/results/auto/equal-time``),
#: so a projection closer to the end would reshape fits that have the time
KEEP_SHARE = 0.9
#: share of the planned steps, or of the time to the deadline, gone before the first projection (whichever comes
#: first; the pace of fewer steps is noisier)
FIRST_SHARE = 0.1
#: share of the planned steps, or of the time to the deadline, between two projections (whichever comes first)
EVERY_SHARE = 0.05


class DeadlineHorizon(Callback):
    """Shorten a run's schedule to the steps that fit before ``deadline`` (module docstring).

    After :data:`FIRST_SHARE` of the planned steps or of the time to the deadline (from the run's first step),
    whichever comes first, and then every :data:`EVERY_SHARE` of either, it projects the steps reached by the
    deadline from the seconds per step since the previous projection (since the run's first step for the first
    one; evaluations included); when they are fewer than ``keep_share`` of the planned steps, the horizon is
    that projection, else the planned steps. Each run it is attached to is projected on its own.

    Attributes:
        deadline: Absolute ``time.monotonic()`` value.
        keep_share: Share of the planned steps a projection must reach for the run to keep its schedule.
        shortened_to: The horizon of the last run it projected, when its last projection shortened it, else None.
        planned: The steps that run had planned.
    """

    def __init__(self, deadline: float, keep_share: float = KEEP_SHARE) -> None:
        """``deadline``: absolute ``time.monotonic()`` value by which the schedule should end; ``keep_share``
        (default :data:`KEEP_SHARE`): a run projected to reach at least this share of its planned steps keeps its
        schedule. 1.0 shortens every schedule the deadline would cut: for a length planned past what the run needs
        (``auto.final_fit.longer``), where keeping the same fit as without a deadline does not matter."""
        if not 0.0 < keep_share <= 1.0:
            raise ValueError(f"keep_share must be in (0, 1], got {keep_share}")
        self.deadline, self.keep_share = deadline, keep_share
        self.shortened_to: int | None = None
        self.planned = 0
        self._ref: tuple[int, float] | None = None
        self._next: tuple[int, float] = (0, 0.0)  # the next projection's step and time, whichever comes first
        self._horizon: int | None = None
        self._start = 0.0  # when the run's first step ended

    def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
        self._ref, self._horizon, self.shortened_to = None, None, None

    def horizon(self, step: int, total: int) -> int | None:
        now = time.monotonic()
        every = max(1, math.ceil(total * EVERY_SHARE))
        if self._ref is None:  # the first step's seconds (building, first batch) are left out of the pace
            self._ref, self._start = (step, now), now
            self._next = (step + max(every, math.ceil(total * FIRST_SHARE)),
                          now + FIRST_SHARE * max(0.0, self.deadline - now))
            return None
        s0, t0 = self._ref
        if step < self._next[0] and now < self._next[1]:
            return self._horizon
        self._next = (step + every, now + EVERY_SHARE * max(0.0, self.deadline - self._start))
        self._ref = (step, now)  # the next projection's pace: the steps from here
        pace = (now - t0) / max(1, step - s0)
        reach = step + max(0.0, self.deadline - now) / pace if pace > 0 else math.inf
        self._horizon = max(step, int(reach)) if reach < self.keep_share * total else None
        self.shortened_to, self.planned = self._horizon, total
        return self._horizon
