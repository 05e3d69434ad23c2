"""``warmstart strategies``: list strategies with their hyperparameters."""

from __future__ import annotations

import typer
from rich.table import Table

from warmstart.cli._common import JSON_HELP, cli_errors, console, emit_json


@cli_errors
def strategies(
    name: str = typer.Argument(None, help="Show one strategy's hyperparameters."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List transfer strategies, or one strategy's hyperparameters (passed to transfer as --NAME VALUE).

    Example: warmstart strategies finetune
    """
    from warmstart.strategies import list_strategies, strategy_class

    names = [name] if name else list_strategies()
    classes = [strategy_class(n) for n in names]
    if json_out:
        emit_json({c.name: {"summary": c.summary, "paper": c.paper,
                            "params": {k: {"default": p.default, "low": p.low, "high": p.high,
                                           "choices": p.choices, "help": p.help}
                                       for k, p in c.param_table().items()}} for c in classes})
        return
    if name:
        c = classes[0]
        table = Table(title=f"{c.name}: {c.summary} — {c.paper}")
        table.add_column("option")
        table.add_column("description")
        for k, p in c.param_table().items():
            table.add_row("--" + k.replace("_", "-"), p.describe())
    else:
        table = Table(title="warmstart strategies")
        for col in ("name", "summary", "paper"):
            table.add_column(col)
        for c in classes:
            table.add_row(c.name, c.summary, c.paper)
    console.print(table)
