"""How long auto trains its winner: the strategy's full length when the time allows.

auto's trials train on a short, fixed budget (:mod:`warmstart.auto.trial_budget`) so that many
recipes can be compared in the time; they rank recipes, they are not the model to return. On
the meta-dataset's ``digits`` task with 5 labels per class (seed 0) nearly every strategy scores
higher at its defaults than at the trial budget — l2sp 0.925 → 0.936, llrd 0.928 → 0.942,
scratch 0.800 → 0.928, fixmatch 0.817 → 0.967, self_training 0.925 → 0.983 (test accuracy,
``benchmarks/results/auto``) — so the winner is retrained at its **full length** (its
strategy's default length, the trials' other settings kept) when the time left allows, else at
the longest length that fits, never shorter than its trials. This is the usual multi-fidelity
split (Li et al., "Hyperband", JMLR 2018): cheap, short runs to rank, one full run to finish.

The length of a fit is measured as *training work* (:func:`training_work`: examples passed
through the network, forward and backward). Its seconds are predicted from the trial's measured
fit as an affine model: the trial's *training* seconds (its epochs' step time, without evaluations)
times the ratio of the works, plus the rest of the trial's fit (building the model, loading source
data, evaluating), which does not grow with the steps. Scaling the whole fit instead over-predicted
a 973-step cdan fit on ``digits`` at 622 s; it took 159 s, since 13 of a 50-step trial's 21 s were
that fixed part. When the training seconds are unknown the whole fit is scaled. When a user's ``--params`` fix a length
(``epochs``, ``min_steps``, ``iterations``, ``iters_per_epoch``), the winner keeps its trials' length.

Longer is not always better: on small tabular tasks the adaptation strategies score 2–4 points
*lower* after their 3,000 steps than after a trial's 50 (``benchmarks/results/length_gain``: wine,
iris and breast_cancer with 1 and 5 labels per class). When the prior's length gain of the winner's
strategy on the task's modality (:meth:`warmstart.knowledge.prior.Prior.length_gain`, measured on past
tasks) is negative, the winner keeps its trials' length too.

**Past the full length** (:func:`longer`): under a time budget, a full-length final fit that ends
before the budget leaves the rest unused (at 2 minutes on ``digits`` without labels, mcc's 3,000
steps took 64-70 s of the 120). Where a strategy's score still rose past its default length on tasks
that are not the auto benchmark's situations (:data:`LONGER`, ``benchmarks/results/longer_probe``),
the final fit is planned at up to that multiple of its default steps, and
:class:`~warmstart.engine.horizon.DeadlineHorizon` shortens its schedule to the steps the measured
pace fits before the deadline, so the schedule anneals by the end of the budget (budgeted training:
Li, Yumer & Ramanan, ICLR 2020). A fit with no time to spare is shortened back to about its full
length; without a time budget the full length is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from warmstart.auto.trial_budget import trial_budget
from warmstart.engine.horizon import KEEP_SHARE
from warmstart.knowledge._gains import work_fraction
from warmstart.strategies import strategy_class

#: strategies whose step count is ``iterations`` (or ``epochs × iters_per_epoch`` when that is set)
_ITERATION_PARAMS = ("iterations", "iters_per_epoch")
#: strategies that pass the unlabelled batch twice (weak and strong view)
_TWO_VIEWS = ("self_training", "fixmatch")
#: length settings scaled when only part of the full length fits
LENGTH_KEYS = ("epochs", "min_steps", "iterations", "iters_per_epoch")
#: the share of what is left of a time budget kept, after the first trial, for the winner's final fit
FINAL_SHARE = 0.5
#: strategies whose test accuracy still rose past their default length, and the most steps their final fit may
#: plan under a time budget, as a multiple of the default's (:func:`longer`): mcc at twice its 3,000 steps scored
#: higher on 9 of the longer-fit probe's 10 cuts, +0.0058 on average (shifts of mnist5k-b that are not the auto
#: benchmark's situations, ``benchmarks/results/longer_probe``; set from its first six, +0.0040)
LONGER: dict[str, float] = {"mcc": 2.0}


@dataclass(frozen=True)
class FinalFit:
    """The settings of the winner's final fit and why.

    Attributes:
        params: The recipe's parameters for the final fit.
        length: ``full`` (the strategy's default length), ``longer`` (planned past it, up to what the budget
            fits: :func:`longer`), ``scaled`` (part of it) or ``trial`` (the trials' length: nothing longer fits,
            or the trials already ran at full length).
        work_ratio: Training work of the final fit / that of one trial fit.
        predicted_seconds: Predicted seconds of the final fit (None when no trial time is known).
        note: One sentence for the notes and the report.
    """

    params: dict[str, Any]
    length: str
    work_ratio: float
    predicted_seconds: float | None
    note: str

    @property
    def keep_share(self) -> float:
        """The deadline horizon's ``keep_share`` for this fit (:class:`~warmstart.engine.horizon.DeadlineHorizon`):
        a ``longer`` plan is shortened on any projected miss, so that its schedule anneals by the deadline instead
        of being cut in its last steps (it has no length of its own to keep); any other plan keeps its schedule
        when it nearly fits (:data:`~warmstart.engine.horizon.KEEP_SHARE`), the same fit as without a deadline."""
        return 1.0 if self.length == "longer" else KEEP_SHARE


def _settings(strategy: str, params: dict[str, Any]) -> dict[str, Any]:
    table = strategy_class(strategy).param_table()
    return {**{k: p.default for k, p in table.items()}, **params}


def training_steps(strategy: str, params: dict[str, Any], n_labelled: int) -> int:
    """Optimizer steps of one fit of ``strategy`` with ``params`` (defaults filled in) on ``n_labelled`` labels."""
    p = _settings(strategy, params)
    if all(k in p for k in _ITERATION_PARAMS):
        per = int(p["iters_per_epoch"])
        return int(p["epochs"]) * per if per > 0 else int(p["iterations"])
    if "iterations" in p:  # fixmatch: iterations, split over epochs for logging only
        return int(p["iterations"])
    spe = max(1, math.ceil(max(1, n_labelled) / max(1, int(p.get("batch_size", 32)))))
    epochs = int(p.get("epochs", 1))
    min_steps = int(p.get("min_steps", 0) or 0)
    return max(epochs, math.ceil(min_steps / spe)) * spe if min_steps else epochs * spe


def training_work(strategy: str, params: dict[str, Any], n_labelled: int) -> float:
    """Examples one fit passes through the network (steps × examples per step): a proxy of its seconds.

    Per step: the labelled batch (at most ``n_labelled``); for the domain-adaptation loop also the source
    batch; for the unlabelled pool ``unlabeled_ratio`` × batch examples, twice for the two-view
    methods (weak and strong views).
    """
    p = _settings(strategy, params)
    batch = int(p.get("batch_size", 32))
    per_step = float(min(batch, max(1, n_labelled)))
    if all(k in p for k in _ITERATION_PARAMS):  # the adaptation loop: a source batch and a pool batch
        per_step = float(batch) + float(batch) * float(p.get("unlabeled_ratio", 1)) * (
            2 if strategy in _TWO_VIEWS else 1) + (per_step if n_labelled > 0 else 0.0)
    elif "unlabeled_ratio" in p:  # fixmatch
        per_step += 2.0 * batch * float(p["unlabeled_ratio"])
    return float(training_steps(strategy, params, n_labelled)) * per_step


def _scaled(strategy: str, trial: dict[str, Any], full: dict[str, Any], fraction: float) -> dict[str, Any]:
    """The trial's settings with their length moved ``fraction`` of the way to the full length."""
    out = dict(trial)
    t, f = _settings(strategy, trial), _settings(strategy, full)
    if all(k in t for k in _ITERATION_PARAMS):  # express both as iterations, split like the full fit
        t_steps = training_steps(strategy, trial, 1)
        f_steps = training_steps(strategy, full, 1)
        out.update(iterations=max(t_steps, int(t_steps + fraction * (f_steps - t_steps))), iters_per_epoch=0,
                   epochs=max(1, min(int(f["epochs"]), int(t["epochs"] + fraction * (f["epochs"] - t["epochs"])))))
        return out
    for k in LENGTH_KEYS:
        if k in t and isinstance(t[k], int) and isinstance(f.get(k), int) and f[k] > t[k]:
            out[k] = int(t[k] + fraction * (f[k] - t[k]))
    return out


def fixes_length(user_params: dict[str, Any] | None) -> bool:
    """Whether the user's parameters fix a training length (the winner then keeps its trials' length)."""
    return bool(set(user_params or {}) & set(LENGTH_KEYS))


def length_fraction(strategy: str, trial_params: dict[str, Any], user_params: dict[str, Any] | None,
                    n_labelled: int, trial_seconds: float | None, seconds_left: float | None,
                    train_seconds: float | None = None) -> float:
    """How far the final fit of a trial would go toward its full length, on a log scale of training work.

    0: it keeps the trials' length (nothing longer fits, or the length is fixed or already full);
    1: the full length. See :func:`warmstart.knowledge._gains.work_fraction`; the arguments are
    :func:`final_fit`'s.
    """
    planned = final_fit(strategy, trial_params, user_params, n_labelled, trial_seconds, seconds_left,
                        train_seconds=train_seconds)
    full = final_fit(strategy, trial_params, user_params, n_labelled, trial_seconds, None, train_seconds=train_seconds)
    return work_fraction(planned.work_ratio, full.work_ratio)


def _split(trial_seconds: float, train_seconds: float | None) -> tuple[float | None, float]:
    """(fixed seconds, seconds that scale with the work) of a trial fit; fixed is None, and all of it scales,
    when the training part is unknown or not within (0, trial_seconds]."""
    if train_seconds is None or not 0.0 < train_seconds <= trial_seconds:
        return None, trial_seconds
    return trial_seconds - train_seconds, train_seconds


def predicted_seconds(trial_seconds: float, train_seconds: float | None, work_ratio: float) -> float:
    """Seconds of a fit with ``work_ratio`` times a trial's training work (see the module docstring).

    ``train_seconds`` (the trial's step time) scales with the work and the rest of ``trial_seconds`` stays;
    without it (or when it is not within (0, trial_seconds]) the whole of ``trial_seconds`` scales.
    """
    fixed, scaling = _split(trial_seconds, train_seconds)
    return (fixed or 0.0) + scaling * work_ratio


def trial_fit_seconds(result: Any, strategy: str, params: dict[str, Any],
                      n_labelled: int) -> tuple[float, float | None]:
    """(seconds of one fit at a trial's settings on every label, the part of them in training steps) of a run.

    ``result`` is the trial's :class:`warmstart.recipe.Result` (``strategy`` with ``params``); ``n_labelled``
    the labels of a fit on every label. Its first fold's measured fit, with the training steps scaled by
    the ratio of :func:`training_work` on every label to that on the fold's labels (fine-tuning's epochs
    grow with the labels, the adaptation loop's fixed steps do not). Without a measured fit: the run's
    seconds per fold, scaled by k/(k−1) under k-fold CV, and no training part.
    """
    folds = max(1, len(result.fold_scores))
    if result.fit_seconds is None:
        scale = folds / (folds - 1) if result.validation == "kfold" and folds > 1 else 1.0
        return float(result.seconds) / folds * scale, None
    on = result.fit_labels if result.fit_labels is not None else n_labelled
    scale = training_work(strategy, params, n_labelled) / max(training_work(strategy, params, on), 1e-9)
    fixed, scaling = _split(float(result.fit_seconds), result.train_seconds)
    return (fixed or 0.0) + scaling * scale, (None if fixed is None else scaling * scale)


def _affordable_ratio(trial_seconds: float, train_seconds: float | None, seconds_left: float) -> float:
    """The largest work ratio whose predicted seconds fit in ``seconds_left`` (:func:`predicted_seconds`)."""
    fixed, scaling = _split(trial_seconds, train_seconds)
    return (seconds_left - (fixed or 0.0)) / max(scaling, 1e-9)


def final_fit(strategy: str, trial_params: dict[str, Any], user_params: dict[str, Any] | None, n_labelled: int,
              trial_seconds: float | None, seconds_left: float | None, gain: float | None = None,
              train_seconds: float | None = None) -> FinalFit:
    """The settings of the winner's final fit: full length if it fits in ``seconds_left``, else the longest that does.

    Args:
        strategy: The winner's strategy.
        trial_params: The winner's parameters as its trials ran them (trial budget included).
        user_params: The user's fixed parameters (``--params``): when they fix a length, the trials' length is kept.
        n_labelled: Labelled examples of the final fit.
        trial_seconds: Measured seconds of one fit at the trials' settings on every label (None: unknown).
        seconds_left: Seconds the final fit may take (None: no time budget, the full length).
        gain: The expected gain of the strategy's full length over its trials' (the prior's length gain, from
            past tasks of the same modality), or None when unknown. Negative: the trials' length is kept.
        train_seconds: The part of ``trial_seconds`` spent in training steps (None: unknown, the whole fit
            scales with the work).
    """
    if fixes_length(user_params):
        return FinalFit(dict(trial_params), "trial", 1.0, trial_seconds,
                        "the winner is retrained at its trials' length, which the given parameters fix")
    if gain is not None and gain < 0:
        return FinalFit(dict(trial_params), "trial", 1.0, trial_seconds,
                        f"the winner is retrained at its trials' length: on past tasks like this one its strategy "
                        f"scored lower at its full length (length gain {gain:+.3f})")
    fixed_by_budget = set(trial_budget(strategy))
    full = {k: v for k, v in trial_params.items() if k not in fixed_by_budget}
    w_trial = training_work(strategy, trial_params, n_labelled)
    w_full = training_work(strategy, full, n_labelled)
    if not fixed_by_budget or w_full <= w_trial:
        return FinalFit(dict(trial_params), "trial", 1.0, trial_seconds,
                        "the winner is retrained at its trials' length (its strategy's full length)")
    ratio = w_full / max(w_trial, 1e-9)
    predicted = None if trial_seconds is None else predicted_seconds(trial_seconds, train_seconds, ratio)
    if seconds_left is None or predicted is None or predicted <= seconds_left:
        return FinalFit(full, "full", ratio, predicted,  # no seconds in the note: the same seed, the same notes
                        f"the winner is retrained at its strategy's full length ({ratio:.1f}x the work of a trial)")
    affordable = _affordable_ratio(trial_seconds or 0.0, train_seconds, seconds_left)  # in trial works
    lo, hi = 0.0, 1.0  # the largest fraction of the way to the full length whose work fits
    for _ in range(30):
        mid = (lo + hi) / 2
        if training_work(strategy, _scaled(strategy, trial_params, full, mid), n_labelled) / w_trial <= affordable:
            lo = mid
        else:
            hi = mid
    params = _scaled(strategy, trial_params, full, lo)
    r = training_work(strategy, params, n_labelled) / w_trial
    if r <= 1.0:  # not even a little longer fits
        return FinalFit(dict(trial_params), "trial", 1.0, trial_seconds,
                        f"the winner is retrained at its trials' length: its full length (predicted {predicted:.0f} s)"
                        f" does not fit in the {seconds_left:.0f} s left")
    steps, full_steps = training_steps(strategy, params, n_labelled), training_steps(strategy, full, n_labelled)
    return FinalFit(params, "scaled", r, predicted_seconds(trial_seconds or 0.0, train_seconds, r),
                    f"the winner is retrained with {r:.1f}x the work of its trials: {steps} of the {full_steps} "
                    f"steps of its full length, whose predicted {predicted:.0f} s do not fit in the "
                    f"{seconds_left:.0f} s left")


def longer(plan: FinalFit, strategy: str, n_labelled: int, deadline: bool) -> FinalFit:
    """``plan`` planned past its full length where the strategy gains from it and a deadline ends the fit.

    A full-length plan of a strategy of :data:`LONGER` under a time budget (``deadline``) gets that multiple of
    its steps; the caller's :class:`~warmstart.engine.horizon.DeadlineHorizon` then shortens the schedule to the
    steps that fit (module docstring). Any other plan is returned as it is.

    Args:
        plan: The final fit's plan (:func:`final_fit`).
        strategy: The winner's strategy.
        n_labelled: Labelled examples of the final fit.
        deadline: Whether a deadline ends the final fit (a time budget).
    """
    scale = LONGER.get(strategy)
    p = _settings(strategy, plan.params)
    if (not deadline or scale is None or plan.length != "full" or "iterations" not in p
            or int(p.get("iters_per_epoch", 0) or 0) > 0):
        return plan
    steps = training_steps(strategy, plan.params, n_labelled)
    params = {**plan.params, "iterations": max(steps, round(scale * steps))}
    ratio = plan.work_ratio * training_work(strategy, params, n_labelled) / max(
        training_work(strategy, plan.params, n_labelled), 1e-9)
    return FinalFit(params, "longer", ratio, None,
                    f"the winner is retrained for up to {scale:g}x its strategy's full length ({params['iterations']} "
                    f"steps; on past tasks its score still rose past {steps}), its schedule shortened to the steps "
                    "that fit in the budget")
