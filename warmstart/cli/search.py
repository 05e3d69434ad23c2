"""``warmstart search``: architecture search that starts from a pretrained model and inherits its weights."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from warmstart.cli._common import (
    CONTINUE_HINT,
    IMAGE_SIZE_HELP,
    JSON_HELP,
    SEED_HELP,
    SKIP_BAD_HELP,
    TRACK_HELP,
    WEIGHTS_HELP,
    cli_errors,
    console,
    emit_json,
    load_target,
    parse_extra_options,
    quiet_optuna,
    resolve_source,
    tracking,
)
from warmstart.errors import ConfigError

# warmstart.search.nas.STRATEGIES, kept here so that --help imports no torch (a test checks they agree)
STRATEGIES = ("random", "evolution", "tpe", "rl", "darts", "nsga2")
# warmstart.search._baseline.BASELINES and "none", likewise
BASELINES = ("l2sp", "finetune", "none")


@cli_errors(interrupted=CONTINUE_HINT)
def search(
    ctx: typer.Context,
    source: str = typer.Option(..., "--source", help="Source checkpoint folder, timm:NAME or hf:NAME|FOLDER "
                               "(its backbone defines the space)."),
    weights: Path = typer.Option(None, "--weights", help=WEIGHTS_HELP),
    image_size: int = typer.Option(None, "--image-size", help=IMAGE_SIZE_HELP),
    task: str = typer.Option(..., "--task", "-t", help="Target task name or data path."),
    strategy: str = typer.Option("evolution", "--strategy", "-s", help="Search strategy: " + ", ".join(STRATEGIES)),
    budget: str = typer.Option("20", "--budget", "-b", help="Candidate trials (50; the baseline trial is one "
                               "more) or wall time (90s, 10m, 2h; the baseline trial included); the final "
                               "training is not counted."),
    objective: str = typer.Option("accuracy", "--objective",
                                  help="accuracy or loss, then optional costs: e.g. accuracy,latency,params."),
    lam: float = typer.Option(0.01, "--lambda", help="Weight of the costs (per ms, per million params) in the "
                              "single objective; nsga2 keeps objectives apart (Pareto front)."),
    scratch: bool = typer.Option(False, "--scratch", help="Random initialization instead of inheriting the "
                                 "source weights (the from-scratch comparison; it has no --baseline trial)."),
    shots: int = typer.Option(None, "--shots", help="Labelled examples per class in total (few-shot protocol)."),
    epochs: int = typer.Option(15, "--epochs", help="Training epochs of each candidate."),
    then: str = typer.Option("finetune", "--then", help="Transfer strategy that trains a winning architecture "
                             "afterwards from its searched weights ('none': the candidate is trained again on "
                             "every label; a winning baseline is always its own recipe again)."),
    baseline: str = typer.Option("l2sp", "--baseline", help="The unchanged source architecture fine-tuned with "
                                 "this strategy at its defaults (l2sp, finetune) is scored first, by the same "
                                 "validation as the candidates, and stays the final model unless a candidate beats "
                                 "it on validation (ties go to it); 'none': no baseline. Not with --scratch."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    storage: str = typer.Option(None, "--storage", help="Knowledge base holding the study (run the same command "
                                "again to continue it): sqlite:///FILE.db, postgresql://..., journal:FILE.log; "
                                "default $WARMSTART_STORAGE or <cache>/knowledge.db."),
    run_dir: Path = typer.Option(None, "--run-dir", help="Keep the trials' artifacts (trained weights) here "
                                 "(default <cache>/artifacts)."),
    out: Path = typer.Option(None, "--out", "-o", help="Save the final model as a checkpoint folder."),
    track: str = typer.Option(None, "--track", help=TRACK_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_BAD_HELP),
) -> None:
    """Search an architecture around a pretrained backbone; train and save the final model.

    Candidates keep some pretrained stages (cut depth), freeze some, append new blocks
    (identity-initialized, Net2Net) and a new head. The unchanged source fine-tuned with
    --baseline (l2sp) is scored first and is the final model unless a candidate beats it on
    validation, so a search never ends below plain fine-tuning. Options of the --then
    strategy can be given as extra --name value pairs.

    Example: warmstart search --source src/ --task digits --shots 10 --strategy evolution --budget 10m -o best/
    """
    if baseline not in BASELINES:
        raise ConfigError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")
    from warmstart import search_architecture

    quiet_optuna()
    params = dict(parse_extra_options(list(ctx.args)))
    resolved = resolve_source(source, None if weights is None else str(weights), image_size)
    assert resolved is not None
    target = load_target(task, skip_bad)
    with tracking(track, f"search:{strategy}:{Path(task).name}"):
        result = search_architecture(target, resolved, strategy=strategy, budget=budget, objective=objective, lam=lam,
                                     inherit=not scratch, shots=shots, seed=seed, epochs=epochs,
                                     transfer_strategy=None if then == "none" else then, transfer_params=params,
                                     baseline=baseline,
                                     out=out, storage=storage, run_dir=run_dir, progress=not json_out)
    if json_out:
        emit_json(result)
        return
    table = Table(title=f"{strategy} search on {result['task']} ({result['budget']}, "
                        f"{'inherited' if not scratch else 'scratch'})")
    table.add_column("")
    table.add_column("value")
    choice = result["final_choice"]
    table.add_row("final model", "baseline: the unchanged source fine-tuned with "
                  f"{result['baseline']['strategy']}" if choice["winner"] == "baseline" else
                  f"candidate (trial {result['best_trial']})")
    table.add_row("architecture", str(result["architecture"]["resolved"]))
    table.add_row("candidate trials", str(result["n_trials"]))
    table.add_row("val accuracy", f"{result['val_accuracy']:.4f}")
    for who in ("baseline", "candidate"):
        if choice[who] is not None:
            table.add_row(f"{'best candidate' if who == 'candidate' else 'baseline'} val accuracy",
                          f"{choice[who]['val_accuracy']:.4f} (trial {choice[who]['trial']})")
    table.add_row("latency (ms)", f"{result['latency_ms']:.2f}")
    table.add_row("params (M)", f"{result['params_m']:.3f}")
    table.add_row("test accuracy", f"{result['test']['accuracy']:.4f}")
    table.add_row("search seconds", f"{result['search_seconds']:.1f}")
    table.add_row("final training seconds", f"{result['final_seconds']:.1f}")
    console.print(table)
    console.print(choice["reason"])
    for p in result["pareto_front"]:
        console.print(f"pareto: trial {p['trial']} val acc {p['val_accuracy']:.3f} "
                      + " ".join(f"{k} {v:.3g}" for k, v in p.items() if k in ("latency", "params")))
    if out is not None:
        console.print(f"saved {out}")
