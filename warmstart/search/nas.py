"""Architecture search that starts from a pretrained model: the study driver behind ``warmstart search``.

min over (θ, a) of L(θ; target validation) + λ·R(a): every strategy is an Optuna
study over a :class:`~warmstart.search.nas_space.Space`. Strategies:

* ``random`` — Optuna's RandomSampler (Bergstra & Bengio 2012);
* ``tpe`` — Optuna's TPESampler (Bergstra et al. 2011);
* ``evolution`` — regularized (aging) evolution, Real et al. 2019
  (:mod:`warmstart.search.evolution`); children load their parent trial's
  TRAINED weights from the study's artifact store and are morphed into the child
  architecture (Net2Net, :mod:`warmstart.search.morphism`) before training;
* ``rl`` — a REINFORCE controller, Zoph & Le 2017 (:mod:`warmstart.search.reinforce`);
* ``darts`` — one-shot differentiable search, Liu et al. 2019
  (:mod:`warmstart.search.darts`), its derived cell retrained and told to the study;
* ``nsga2`` — Optuna's NSGAIISampler (Deb et al. 2002) over several objectives
  (validation error vs parameters vs measured CPU latency), giving a Pareto front.

Objectives: ``accuracy`` (validation error) or ``loss`` (validation NLL) first,
then costs ``params`` (millions) and ``latency`` (ms, measured). Single-objective
strategies minimize the primary plus ``lam`` times the costs; ``nsga2`` keeps
them apart. With ``inherit=True`` candidates start from the source weights
(new blocks as identity morphisms); with ``inherit=False`` the same space is
randomly initialized (the scratch baseline). The best architecture is then
trained with a transfer strategy (default ``finetune``; its time is reported
separately, outside the budget) and saved as an ordinary checkpoint whose
metadata records the architecture.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.trial import TrialState
from safetensors.torch import load_file, save_file
from torch import nn

from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.checkpoint import save_checkpoint
from warmstart.backbones.classifier import Classifier, HeadSpec
from warmstart.backbones.neck import build_neck, cut_dim
from warmstart.engine.config import TrainConfig
from warmstart.engine.device import configure_threads
from warmstart.engine.feature_cache import FeatureCache
from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.search._candidate import OutOfBudget, SearchData, freeze_stages, train_candidate
from warmstart.search.budget import Budget, BudgetTracker
from warmstart.search.darts import cell_spec, darts_search
from warmstart.search.evolution import RegularizedEvolutionSampler, parent_of
from warmstart.search.latency import count_parameters, measure_latency
from warmstart.search.morphism import morph
from warmstart.search.nas_space import NASSpace, Space
from warmstart.search.reinforce import ReinforceSampler
from warmstart.source import Source
from warmstart.tasks import Task, load_task
from warmstart.tasks._task import take

STRATEGIES = ("random", "evolution", "tpe", "rl", "darts", "nsga2")
PRIMARY = {"accuracy": "val_error", "error": "val_error", "loss": "val_loss"}
COSTS = {"params": "params_m", "latency": "latency_ms"}
PROBE = 4  # validation examples whose outputs each candidate records before training


def parse_objectives(objective: str | list[str]) -> list[str]:
    """``"accuracy,latency"`` → ``["accuracy", "latency"]`` (validated: one primary first, then costs).

    Raises:
        ConfigError: unknown or repeated names, no primary first, or a cost given twice.
    """
    names = [s.strip() for s in (objective.split(",") if isinstance(objective, str) else objective) if s.strip()]
    valid = [*PRIMARY, *COSTS]
    if not names:
        raise ConfigError(f"objective is empty; give e.g. accuracy or accuracy,latency (valid: {', '.join(valid)})")
    for n in names:
        if n not in valid:
            raise ConfigError(f"unknown objective {n!r}; valid: {', '.join(valid)}")
    if names[0] not in PRIMARY or any(n in PRIMARY for n in names[1:]):
        raise ConfigError(f"objective {','.join(names)!r}: put exactly one of accuracy/loss first, then "
                          "costs (params, latency)")
    if len(set(names)) != len(names):
        raise ConfigError(f"objective {','.join(names)!r} repeats a name")
    return names


def make_sampler(strategy: str, space: Space, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of a strategy (``darts`` has none: it is a study driver)."""
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)
    if strategy == "evolution":
        return RegularizedEvolutionSampler(space, population_size=4, sample_size=2, seed=seed)
    if strategy == "rl":
        return ReinforceSampler(space, seed=seed)
    if strategy == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=4)
    if strategy == "darts":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"unknown search strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")


def scratch_twin(model: Classifier, seed: int) -> Classifier:
    """The same architecture with every weight randomly initialized (the scratch baseline)."""
    twin = copy.deepcopy(model)
    torch.manual_seed(seed)
    for mod in twin.modules():
        reset = getattr(mod, "reset_parameters", None)
        if callable(reset):
            reset()
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
    return twin


class _Run:
    """State of one search: data, cache, artifacts, the timeline of trials."""

    def __init__(self, task: Task, base: Classifier, space: Space, objectives: list[str], *, inherit: bool,
                 strategy: str, lam: float, config: TrainConfig, run_dir: Path, seed: int) -> None:
        self.task, self.base, self.space, self.objectives = task, base, space, objectives
        self.inherit, self.strategy, self.lam, self.config, self.seed = inherit, strategy, lam, config, seed
        self.data = SearchData.from_task(task, seed)
        self.cache = FeatureCache(max_items=16)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.store = FileSystemArtifactStore(str(run_dir / "artifacts"))
        (run_dir / "artifacts").mkdir(exist_ok=True)
        self.deadline: float | None = None
        self.t0 = time.monotonic()
        self.timeline: list[dict[str, Any]] = []
        self.input_shape = tuple(task.input_shape)

    # ---------------------------------------------------------------- models
    def build(self, arch: dict[str, Any], trial_seed: int) -> Classifier:
        return self.space.build(arch, self.base, inherit=self.inherit, seed=trial_seed)  # type: ignore[return-value]

    def load_trial_model(self, trial: optuna.trial.FrozenTrial) -> Classifier:
        """Rebuild a finished trial's architecture and load its trained weights (its artifact)."""
        if "neck_spec" in trial.user_attrs and trial.user_attrs.get("darts"):
            model = self.darts_model(trial.user_attrs["neck_spec"], trial.user_attrs["cut"])
        else:
            model = self.build(dict(trial.params), trial.number)
        path = self.run_dir / f"trial-{trial.number}.safetensors"
        download_artifact(artifact_store=self.store, file_path=str(path),
                          artifact_id=trial.user_attrs["artifact_id"])
        model.load_state_dict(load_file(str(path)))
        path.unlink()
        return model

    def darts_model(self, spec: dict[str, Any], cut: int) -> Classifier:
        m = copy.deepcopy(self.base)
        m.depth = cut
        neck, dim = build_neck(spec, m.backbone, cut)
        m.neck, m.neck_spec, m.feature_dim = neck, spec, dim
        m.replace_head(m.n_classes, HeadSpec())
        return m

    def save_trial_model(self, trial: optuna.Trial, model: Classifier) -> None:
        with tempfile.TemporaryDirectory(dir=self.run_dir) as tmp:  # no half-written file if killed (issue 9)
            path = Path(tmp) / f"trial-{trial.number}.safetensors"
            save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))
            art = upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=trial)
        trial.set_user_attr("artifact_id", art)

    @torch.no_grad()
    def probe(self, model: Classifier) -> list[list[float]]:
        """The candidate's outputs (eval mode) on the first :data:`PROBE` validation examples.

        Recorded before training as the trial's ``init_probe`` user attribute: what the candidate
        computed when it started (its parent's function after a preserving morphism).
        """
        was_training = model.training
        model.eval()
        out = model(take(self.data.x_val, torch.arange(min(PROBE, len(self.data.y_val)))))
        model.train(was_training)
        return [[float(v) for v in row] for row in out]

    # ---------------------------------------------------------------- scoring
    def score(self, trial: optuna.Trial, model: Classifier, freeze: int) -> list[float] | float:
        metrics = train_candidate(model, freeze, self.data, self.config, self.cache, deadline=self.deadline)
        metrics["params_m"] = count_parameters(model) / 1e6
        metrics["latency_ms"] = measure_latency(model, self.input_shape)
        for k, v in metrics.items():
            trial.set_user_attr(k, v)
        self.save_trial_model(trial, model)
        primary = metrics[PRIMARY[self.objectives[0]]]
        costs = [metrics[COSTS[c]] for c in self.objectives[1:]]
        if self.strategy == "nsga2":
            values: list[float] | float = [primary, *costs]
        else:
            values = primary + self.lam * sum(costs)
        self.timeline.append({"trial": trial.number, "seconds": time.monotonic() - self.t0,
                              "val_accuracy": metrics["val_accuracy"], "val_loss": metrics["val_loss"],
                              "latency_ms": metrics["latency_ms"], "params_m": metrics["params_m"],
                              "value": values if isinstance(values, float) else values[0]})
        return values

    def objective(self, trial: optuna.Trial) -> list[float] | float:
        arch = {k: trial.suggest_categorical(k, v) for k, v in self.space.choices.items()}
        if not self.space.allowed(arch):
            raise optuna.TrialPruned("architecture violates the space's constraint")
        resolved = self.space.resolve(arch)
        parent = parent_of(trial) if self.strategy == "evolution" else None
        try:
            if parent is not None and self.inherit:
                ptrial = trial.study.trials[parent]
                pmodel = self.load_trial_model(ptrial)
                if isinstance(self.space, NASSpace):
                    model, rep = morph(pmodel, self.space.resolve(dict(ptrial.params)), resolved,
                                       seed=trial.number)
                    trial.set_user_attr("morph", rep)
                else:
                    model = self.build(arch, trial.number)
                    _copy_matching(model, pmodel)
                trial.set_user_attr("parent", parent)
            else:
                model = self.build(arch, self.seed * 1000 + trial.number)
            trial.set_user_attr("init_probe", self.probe(model))
            return self.score(trial, model, int(resolved.get("freeze", 0)))
        except OutOfBudget:
            trial.set_user_attr("out_of_budget", True)
            raise optuna.TrialPruned("the search budget ran out during this trial") from None

    # ---------------------------------------------------------------- darts
    def run_darts(self, study: optuna.Study, budget: Budget) -> dict[str, Any]:
        cut = max(int(c) for c in self.space.choices.get("cut", (self.base.backbone.num_stages,)))
        model = copy.deepcopy(self.base)
        model.depth = cut
        from warmstart.search._candidate import _Prefix, prefix_key

        freeze_stages(model, cut)
        key, prefix = prefix_key(model, cut), _Prefix(model)
        ftr = self.cache.get(prefix, self.data.x_train, model_key=key, depth=cut,
                             data_key=self.data.key + "|train", pooled=False)
        fva = self.cache.get(prefix, self.data.x_val, model_key=key, depth=cut,
                             data_key=self.data.key + "|val", pooled=False)
        modality = "image" if ftr.dim() == 4 else "tabular"
        if budget.seconds is not None:  # half the budget for the one-shot search, the rest to retrain
            search_deadline = self.t0 + 0.5 * budget.seconds
            epochs = 200
        else:
            search_deadline, epochs = None, 10 * int(budget.trials or 1)
        res = darts_search(ftr, self.data.y_train, fva, self.data.y_val, self.task.n_classes, modality=modality,
                           epochs=epochs, deadline=search_deadline, seed=self.seed)
        if budget.seconds is not None and time.monotonic() > self.t0 + budget.seconds:
            raise ConfigError(_too_small(budget) + f" (one DARTS epoch took {res.seconds:.1f} s)")
        spec = cell_spec(cut_dim(model.backbone, cut), res, 4, 16, modality)
        derived = self.darts_model(spec, cut)
        dists: dict[str, optuna.distributions.BaseDistribution] = {
            "cut": optuna.distributions.CategoricalDistribution((cut,))}
        for e, _ in enumerate(res.ops):
            dists[f"edge{e}"] = optuna.distributions.CategoricalDistribution(tuple(res.candidates))
        study.enqueue_trial({"cut": cut, **{f"edge{e}": op for e, op in enumerate(res.ops)}})
        trial = study.ask(dists)
        for k, v in {"darts": True, "neck_spec": spec, "cut": cut, "alpha_change": res.alpha_change,
                     "search_epochs": res.epochs, "search_seconds": res.seconds}.items():
            trial.set_user_attr(k, v)
        self.deadline = None  # the derived cell is always retrained once, even if that overruns the budget
        try:
            values = self.score(trial, derived, cut)
        except OutOfBudget:
            study.tell(trial, state=TrialState.PRUNED)
            raise ConfigError(_too_small(budget)) from None
        study.tell(trial, values)
        return {"alpha_change": res.alpha_change, "ops": res.ops, "search_epochs": res.epochs}


def _copy_matching(model: nn.Module, parent: nn.Module) -> None:
    src = parent.state_dict()
    own = model.state_dict()
    own.update({k: v for k, v in src.items() if k in own and own[k].shape == v.shape})
    model.load_state_dict(own)


def _too_small(budget: Budget) -> str:
    return (f"budget {budget} is too small for one candidate: no architecture finished training; "
            "give a larger --budget")


def search_architecture(task: str | Task, source: str | Path | Source, *, strategy: str = "evolution",
                        budget: str | int | Budget = 20, objective: str | list[str] = "accuracy",
                        lam: float = 0.01, inherit: bool = True, shots: int | None = None, seed: int = 0,
                        space: Space | None = None, epochs: int = 15, lr: float = 3e-3, batch_size: int = 32,
                        transfer_strategy: str | None = "finetune", transfer_params: dict[str, Any] | None = None,
                        out: str | Path | None = None, run_dir: str | Path | None = None,
                        progress: bool = False) -> dict[str, Any]:
    """Search an architecture for ``task`` starting from ``source``; train and optionally save the best.

    Args:
        task: Target task (name, path or Task).
        source: Source checkpoint folder or :class:`Source`.
        strategy: One of ``random, evolution, tpe, rl, darts, nsga2``.
        budget: Trials (``20``) or wall time (``"90s"``, ``"10m"``), final training excluded.
        objective: ``accuracy`` or ``loss``, optionally followed by costs ``params``/``latency``.
        lam: λ of the scalarized objective (primary + λ·costs) for single-objective strategies.
        inherit: Start candidates from the source weights (False: the scratch baseline).
        shots: Few-shot protocol (labels per class in total); validation comes out of them.
        seed: Seed of the support set, the sampler and training.
        space: The space (default: :class:`NASSpace` of the source backbone).
        epochs, lr, batch_size: Training of each candidate.
        transfer_strategy: Strategy that trains the best architecture afterwards (None: keep the
            searched weights).
        transfer_params: Its hyperparameters.
        out: Save the final model here as a checkpoint folder.
        run_dir: Keep the study (journal file ``study.log``, named in the result's ``study``) and its
            artifacts (each trial's trained weights) here (default: a temporary folder, removed).
        progress: Progress bars for the final training.

    Returns:
        JSON-serializable result: best architecture, its validation scores, the timeline of trials
        (best-so-far vs seconds), the Pareto front (several objectives), final test metrics,
        search and final-training seconds; with ``run_dir``, ``study`` (``storage`` URL and ``name``).

    Raises:
        ConfigError: unknown strategy/objective, an empty or contradictory space, or a budget too
            small for one candidate.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown search strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    objectives = parse_objectives(objective)
    if strategy == "nsga2" and len(objectives) < 2:
        objectives = [objectives[0], "latency"]
    bud = Budget.parse(budget)
    configure_threads()
    target = load_task(task) if not isinstance(task, Task) else task
    if shots is not None:
        target = target.few_shot(shots, seed=seed)
    src = source if isinstance(source, Source) else Source(path=Path(source))
    ckpt = src.fresh_checkpoint(progress)
    base, adapt_report = adapt_to_task(ckpt.model, target, ckpt.classes, "auto")
    base = base.to("cpu")
    if not inherit:
        base = scratch_twin(base, seed)
    space = space if space is not None else NASSpace.from_model(base)
    space.validate()
    tmp = None
    if run_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="warmstart-nas-"))
    rd = Path(run_dir) if run_dir is not None else tmp
    assert rd is not None
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device="cpu", progress=False,
                         augment="none")
    try:
        run = _Run(target, base, space, objectives, inherit=inherit, strategy=strategy, lam=lam, config=config,
                   run_dir=rd, seed=seed)
        n_obj = len(objectives) if strategy == "nsga2" else 1
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage, study_name = None, None
        if run_dir is not None:  # the study is kept beside its artifacts
            from warmstart.knowledge.storage import open_storage

            storage = f"journal:{rd / 'study.log'}"
            study_name = f"search-{strategy}-{'inherit' if inherit else 'scratch'}-seed{seed}-{time.time_ns()}"
        study = optuna.create_study(directions=["minimize"] * n_obj, sampler=make_sampler(strategy, space, seed),
                                    storage=open_storage(storage) if storage else None, study_name=study_name)
        tracker = BudgetTracker(bud)
        run.t0 = time.monotonic()
        run.deadline = run.t0 + bud.seconds if bud.seconds is not None else None
        darts_info = None
        if strategy == "darts":
            darts_info = run.run_darts(study, bud)
        else:
            while not tracker.exhausted(study):
                if run.deadline is not None and time.monotonic() >= run.deadline:
                    break
                study.optimize(run.objective, n_trials=1, catch=(TrainingDivergedError,))
        search_seconds = time.monotonic() - run.t0
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            raise ConfigError(_too_small(bud))
        result = _finish(run, study, done, target, src, objectives, strategy, transfer_strategy,
                         transfer_params or {}, seed, progress, out)
        result.update({"strategy": strategy, "inherit": inherit, "budget": str(bud),
                       "search_seconds": search_seconds, "objectives": objectives, "lam": lam,
                       "space": space.describe(), "adapted": adapt_report.get("adapted", []),
                       "source_head": adapt_report.get("head")})
        if darts_info is not None:
            result["darts"] = darts_info
        if storage is not None:
            result["study"] = {"storage": storage, "name": study_name}
        return result
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _finish(run: _Run, study: optuna.Study, done: list[Any], target: Task, src: Source, objectives: list[str],
            strategy: str, transfer_strategy: str | None, transfer_params: dict[str, Any], seed: int,
            progress: bool, out: str | Path | None) -> dict[str, Any]:
    best = min(done, key=lambda t: (t.user_attrs["val_error"], t.user_attrs["val_loss"]))
    if strategy != "nsga2":
        best = min(done, key=lambda t: float(t.value))
    front = []
    if strategy == "nsga2":
        front = [{"trial": t.number, "val_accuracy": t.user_attrs["val_accuracy"],
                  **{c: t.user_attrs[COSTS[c]] for c in objectives[1:]}, "params": dict(t.params)}
                 for t in study.best_trials]
    model = run.load_trial_model(best)
    arch = {"params": dict(best.params), "resolved": run.space.resolve(dict(best.params)),
            "neck": model.neck_spec, "depth": model.depth, "head": model.head_spec.to_json()}
    for p in model.parameters():
        p.requires_grad_(True)
    t1 = time.monotonic()
    final_info: dict[str, Any] = {}
    if transfer_strategy:
        from warmstart.strategies import get_strategy

        with tempfile.TemporaryDirectory(prefix="warmstart-nas-best-") as d:
            save_checkpoint(model, Path(d) / "best", classes=target.classes, source_task=target.name)
            strat = get_strategy(transfer_strategy, seed=seed, progress=progress, device="cpu", **transfer_params)
            strat.fit(target, Source(path=Path(d) / "best"))
            final = strat.model_
            final_info = {"strategy": transfer_strategy, "params": strat.get_params()}
    else:
        final = model
    final_seconds = time.monotonic() - t1
    from warmstart.engine.evaluate import classification_metrics, predict_proba

    test = classification_metrics(predict_proba(final, target.x_test), target.y_test)
    best_so_far, curve = -1.0, []
    for row in run.timeline:
        best_so_far = max(best_so_far, row["val_accuracy"])
        curve.append({**row, "best_val_accuracy": best_so_far})
    result = {"task": target.name, "shots": target.shots, "best_trial": best.number,
              "architecture": arch, "val_accuracy": best.user_attrs["val_accuracy"],
              "val_loss": best.user_attrs["val_loss"], "latency_ms": best.user_attrs["latency_ms"],
              "params_m": best.user_attrs["params_m"], "n_trials": len(done),
              "n_pruned": len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
              "timeline": curve, "pareto_front": front, "final_training": final_info,
              "final_seconds": final_seconds, "test": test, "source": src.describe()}
    if out is not None:
        assert isinstance(final, Classifier)
        save_checkpoint(final, out, classes=target.classes, source_task=target.name, metrics={"test": test},
                        extra={"architecture": arch, "search": {k: result[k] for k in (
                            "best_trial", "val_accuracy", "latency_ms", "params_m", "n_trials")},
                            "strategy": strategy, "transfer": final_info})
        result["checkpoint"] = str(out)
    return result
