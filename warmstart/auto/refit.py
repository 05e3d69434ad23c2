"""Refit auto's soup on every label there is: the target's support set and the source's held-out examples.

Where the source's held-out labels chose auto's model (:mod:`warmstart.auto.source_validation`: a table whose
source and target inputs showed no shift), those labels are a sample of the target's distribution: tens to hundreds
of them, where the support set has 1–5 per class. Once they have chosen the soup's fits, each of those recipes is
fitted again on the support set and the held-out examples together, and the refits' weights are averaged as the fits'
were. This is the "refit on train and validation data" of AutoML systems (AutoGluon's ``refit_full``, Erickson et
al., "AutoGluon-Tabular", 2020; auto-sklearn's ``refit``, Feurer et al., NeurIPS 2015): the choice is made on the
held-out labels, then they train the model it chose. No held-out label is left to check the refit; the measurement
that decided it is ``benchmarks/results/tabular_ensemble_probe`` (its ``refit soup NLL top-5`` policy).

A refit runs only when every ingredient's refit is predicted (:func:`~warmstart.auto.final_fit.trial_fit_seconds`,
from its fit's measured seconds and the labels it adds) to end in the time left; the budget's deadline stops one
that overruns, and the soup of the unrefitted fits is kept then.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from warmstart.auto.clock import Clock
from warmstart.auto.final_fit import trial_fit_seconds
from warmstart.auto.soup import average_weights, with_model
from warmstart.errors import WarmstartError
from warmstart.tasks._task import Task, concat, n_items


def with_held_out(target: Task, x: Any, y: torch.Tensor) -> Task:
    """``target`` whose labelled split also holds the examples ``x`` (its input format and standardization) with
    labels ``y`` (indices into its classes), after its own."""
    return target.replace(x_train=concat(target.x_train, x), y_train=torch.cat([target.y_train, y.to(torch.long)]))


def refit_seconds(fits: list[Any], n_labelled: int) -> float:
    """Predicted seconds of refitting ``fits`` (:class:`~warmstart.auto.source_validation.SourceFit`) on
    ``n_labelled`` labels, from each fit's measured seconds on the labels it had."""
    return sum(trial_fit_seconds(f.result, f.winner.strategy, f.params, n_labelled)[0] for f in fits)


def refit_soup(target: Task, fits: list[Any], x: Any, y: torch.Tensor, clock: Clock, *, seed: int, device: str,
               progress: bool) -> tuple[Any | None, str]:
    """Refit ``fits`` (the soup's ingredients, best first) on ``target``'s labels and the held-out ``x``/``y``, and
    average their weights.

    Returns:
        (a copy of the first refit's run whose strategy predicts with the averaged model, its test metrics unset;
        what happened, in words), or (None, why not: the refits are not predicted to fit in the time left, a recipe
        failed, or the deadline stopped one).
    """
    from warmstart.engine.callbacks import extra_callbacks
    from warmstart.recipe import run_recipe
    from warmstart.search.budget import DeadlineStop

    grown = with_held_out(target, x, y)
    n_labelled, n_held = n_items(target.x_train), int(y.numel())
    predicted, left = refit_seconds(fits, n_items(grown.x_train)), clock.left()
    if left is not None and predicted > left:
        return None, (f"the soup was not refitted with the source's {n_held} held-out examples: its {len(fits)} "
                      f"refits were predicted to take {predicted:.0f} s, {left:.0f} s were left")
    end = clock.retrain_deadline()
    runs = []
    t0 = time.perf_counter()
    for f in fits:
        stop = DeadlineStop(end, "the budget", whole_epochs=False) if end is not None else None
        try:
            with extra_callbacks(*[c for c in (stop,) if c is not None]):
                runs.append(run_recipe(grown, f.winner.recipe(f.params, seed), validation="none",
                                       source=f.winner.source.source, device=device, progress=progress))
        except WarmstartError as exc:
            return None, f"the soup was not refitted with the source's held-out examples: {exc}"
        if stop is not None and stop.stopped_after is not None:
            return None, (f"the soup was not refitted with the source's held-out examples: the budget stopped the "
                          f"refit of {f.winner.strategy} ({f.length})")
    model = average_weights([r.strategy.model_ for r in runs])
    assert model is not None  # the fits averaged, and a refit keeps its fit's architecture and inputs
    took = time.perf_counter() - t0
    note = (f"the soup's {len(fits)} recipes were fitted again on the target's {n_labelled} labels and the source's "
            f"{n_held} held-out examples together, and averaged (refit on every label, {took:.1f} s; predicted "
            f"{predicted:.1f} s)")
    return with_model(runs[0], model), note
