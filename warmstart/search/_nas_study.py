"""The NAS study in the knowledge base, and the final training of its best architecture.

:func:`prepare_study` creates (or loads, to continue it) the study
``<task key>|search:<strategy>`` (``search:<strategy>:scratch`` for the scratch
baseline) with the task's meta-features record, like ``tune``'s studies; its sampler never
sees the search's baseline trial (:mod:`warmstart.search._candidates_only`). The search
settings that make trials comparable — the space, the objectives, λ — are stored in
the record; continuing a study with other settings is refused (its trials would not
be comparable, and Optuna refuses a categorical choice whose values changed).

:func:`best_candidate` picks the best architecture candidate; the final choice between it and
the baseline trial is :func:`warmstart.search._baseline.choose`. :func:`finish` trains the
chosen model once more on every label through :func:`warmstart.recipe.run_recipe` (validation
``none``) and saves it as an ordinary checkpoint whose metadata records the architecture.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import ConfigError
from warmstart.recipe import Recipe, run_recipe
from warmstart.search._baseline import Choice, is_baseline
from warmstart.search.nas import COSTS
from warmstart.search.nas_space import Space
from warmstart.tasks import Task


def study_kind(strategy: str, inherit: bool) -> str:
    """The knowledge-base kind of a search: ``search:<strategy>`` (``:scratch`` for the baseline)."""
    return f"search:{strategy}" + ("" if inherit else ":scratch")


def prepare_study(task: Task, strategy: str, space: Space, objectives: list[str], *, lam: float, inherit: bool,
                  multi: bool, storage: Any, seed: int) -> tuple[optuna.Study, dict[str, str]]:
    """Create or load the search's study in the knowledge base; return it and ``{storage, name}``.

    Raises:
        ConfigError: the stored study was run with another space, objectives or λ.
        StorageError: the storage cannot be opened.
    """
    from warmstart.knowledge.metafeatures import meta_features, task_description
    from warmstart.knowledge.records import ATTR, make_record_attr, study_name, task_key
    from warmstart.knowledge.storage import open_storage, storage_url
    from warmstart.search._candidates_only import CandidatesOnly
    from warmstart.search.samplers import SamplerContext, build_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = open_storage(storage)
    key, kind = task_key(task.name, task.shots), study_kind(strategy, inherit)
    name = study_name(key, kind)
    settings = json.loads(json.dumps({"space": space.describe(), "objectives": objectives,
                                      "lam": None if multi else float(lam)}))
    sampler = CandidatesOnly(build_sampler("random" if strategy == "darts" else strategy, "nas",
                                           SamplerContext(space=space, seed=seed)))
    directions: list[Any] = ["maximize"] + ["minimize"] * (len(objectives) - 1) if multi else ["maximize"]
    study = optuna.create_study(study_name=name, storage=st, directions=directions, sampler=sampler,
                                pruner=optuna.pruners.NopPruner(), load_if_exists=True)
    attr = study.user_attrs.get(ATTR)
    if attr is None:
        info = {**task_description(task), "search": settings}
        study.set_user_attr(ATTR, make_record_attr(key, kind, meta_features(task), info, dict(space.distributions()),
                                                   strategy=strategy, shots=task.shots))
    else:
        stored = (attr.get("info") or {}).get("search")
        if stored != settings:
            diff = [k for k in settings if (stored or {}).get(k) != settings[k]]
            raise ConfigError(f"study {name!r} in the knowledge base was run with other settings "
                              f"({json.dumps({k: (stored or {}).get(k) for k in diff})}); continue it with the "
                              "same settings, or use another --storage")
    url = storage if isinstance(storage, optuna.storages.BaseStorage) else storage_url(storage)
    return study, {"storage": str(url), "name": name}


def timeline(study: optuna.Study) -> list[dict[str, Any]]:
    """The study's finished trials in order: seconds since its first trial started, scores, best so far.

    The baseline trial is a row too (``baseline`` True; it counts in the best so far: it is the
    search's floor); candidates' rows have ``baseline`` False.
    """
    done = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    starts = [t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start is not None]
    t0 = min(starts) if starts else None
    best, rows = -1.0, []
    for t in done:
        ua = t.user_attrs
        best = max(best, float(ua["val_accuracy"]))
        seconds = (t.datetime_complete - t0).total_seconds() if t0 and t.datetime_complete else 0.0
        rows.append({"trial": t.number, "seconds": seconds, "val_accuracy": ua["val_accuracy"],
                     "val_loss": ua["val_loss"], "latency_ms": ua["latency_ms"], "params_m": ua["params_m"],
                     "value": float(t.values[0]), "best_val_accuracy": best, "baseline": is_baseline(t)})
    return rows


def best_candidate(done: list[FrozenTrial], strategy: str) -> FrozenTrial | None:
    """The best of the finished candidates ``done`` (None when there is none).

    Highest value; ``nsga2``: highest validation accuracy, then lowest validation loss.
    """
    if not done:
        return None
    if strategy == "nsga2":
        return min(done, key=lambda t: (-t.user_attrs["val_accuracy"], t.user_attrs["val_loss"]))
    return max(done, key=lambda t: float(t.values[0]))


def pareto_front(done: list[FrozenTrial], directions: list[optuna.study.StudyDirection]) -> list[FrozenTrial]:
    """The candidates of ``done`` that no other candidate dominates (the baseline is not among them)."""
    sign = [1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0 for d in directions]

    def key(t: FrozenTrial) -> list[float]:
        return [s * float(v) for s, v in zip(sign, t.values, strict=True)]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    keys = {t.number: key(t) for t in done}
    return [t for t in done if not any(dominates(keys[o.number], keys[t.number]) for o in done)]


def _trained_model(objective: Any, trial: FrozenTrial) -> Any:
    """A finished trial's architecture with its trained weights."""
    from safetensors.torch import load_file

    from warmstart.search._candidate import build_structure

    weights = objective.weights_file(trial)
    if weights is None:
        raise ConfigError(f"the trained weights of trial {trial.number} are missing from {objective.artifacts}")
    model, _ = build_structure(objective.base, dict(trial.user_attrs["candidate"]))
    model.load_state_dict(load_file(str(weights)))
    return model


def _final_training(objective: Any, best: FrozenTrial, baseline: bool, transfer_strategy: str | None,
                    transfer_params: dict[str, Any], progress: bool) -> tuple[Any, dict[str, Any]]:
    """Train the chosen trial's model on every label; the Result and ``{strategy, params}``."""
    from warmstart.backbones.checkpoint import save_checkpoint

    task = objective.task
    if transfer_strategy and not baseline:
        searched = _trained_model(objective, best)
        with tempfile.TemporaryDirectory(prefix="warmstart-nas-best-") as d:
            save_checkpoint(searched, Path(d) / "best", classes=task.classes, source_task=task.name)
            recipe = Recipe(transfer_strategy, transfer_params, source=str(Path(d) / "best"), shots=task.shots,
                            seed=objective.seed)
            final = run_recipe(task, recipe, validation="none", device=objective.device, progress=progress)
        return final, {"strategy": transfer_strategy, "params": final.strategy.get_params()}
    recipe = Recipe.from_json(best.user_attrs["recipe"])  # the baseline, or the candidate itself, again
    final = run_recipe(task, recipe, validation="none", source=objective.source, device=objective.device,
                       progress=progress)
    return final, {"strategy": recipe.strategy, "params": final.strategy.get_params() if baseline
                   else dict(recipe.params)}


def finish(objective: Any, study: optuna.Study, done: list[FrozenTrial], choice: Choice, *, strategy: str,
           transfer_strategy: str | None, transfer_params: dict[str, Any], progress: bool,
           out: str | Path | None) -> dict[str, Any]:
    """Train the chosen model on every label through ``run_recipe``, report (and save) it.

    Args:
        objective: The search's :class:`~warmstart.search.nas.CandidateObjective`.
        study: The search's study.
        done: The finished candidates (``nsga2``: their Pareto front is reported).
        choice: The final choice (:func:`warmstart.search._baseline.choose`). A candidate is
            trained further with ``transfer_strategy`` from its searched weights (None: its own
            recipe again); the baseline's recipe is run again on every label.
        strategy: The search strategy.
        transfer_strategy, transfer_params: See above.
        progress: Progress bars.
        out: Save the final model here as a checkpoint folder.
    """
    from warmstart.backbones.checkpoint import save_checkpoint
    from warmstart.backbones.classifier import Classifier
    from warmstart.search.morphism import base_arch

    task, best = objective.task, choice.trial
    baseline = choice.winner == "baseline"
    front = []
    if strategy == "nsga2":
        front = [{"trial": t.number, "val_accuracy": t.user_attrs["val_accuracy"],
                  **{c: t.user_attrs[COSTS[c]] for c in objective.objectives[1:]},
                  "params": dict(t.params)} for t in pareto_front(done, study.directions)]
    t1 = time.monotonic()
    final, final_info = _final_training(objective, best, baseline, transfer_strategy, transfer_params, progress)
    final_seconds = time.monotonic() - t1
    model = final.model
    assert isinstance(model, Classifier)
    arch = {"params": dict(best.params),
            "resolved": base_arch(model) if baseline else objective.space.resolve(dict(best.params)),
            "candidate": best.user_attrs.get("candidate"), "unchanged_source": baseline, "neck": model.neck_spec,
            "depth": model.depth, "head": model.head_spec.to_json()}
    ua = best.user_attrs
    result = {"task": task.name, "shots": task.shots, "best_trial": best.number, "architecture": arch,
              "val_accuracy": ua["val_accuracy"], "val_loss": ua["val_loss"], "validation": ua.get("validation"),
              "latency_ms": ua["latency_ms"], "params_m": ua["params_m"], "n_trials": len(done),
              "n_pruned": sum(not is_baseline(t) for t in study.get_trials(deepcopy=False,
                                                                          states=(TrialState.PRUNED,))),
              "timeline": timeline(study), "pareto_front": front, "final_choice": choice.to_json(),
              "final_training": final_info, "final_seconds": final_seconds, "test": final.test,
              "source": objective.source.describe()}
    if out is not None:
        save_checkpoint(model, out, classes=task.classes, source_task=task.name, metrics={"test": final.test},
                        extra={"architecture": arch, "search": {k: result[k] for k in (
                            "best_trial", "val_accuracy", "latency_ms", "params_m", "n_trials")},
                            "strategy": strategy, "transfer": final_info, "final_choice": result["final_choice"]})
        result["checkpoint"] = str(out)
    return result
