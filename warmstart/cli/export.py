"""``warmstart export``: a model to ONNX or TorchScript, taking raw inputs."""

from __future__ import annotations

from pathlib import Path

import typer

from warmstart.cli._common import JSON_HELP, cli_errors, console, emit_json

# warmstart.export.FORMATS, kept here so that --help imports no torch (a test checks they agree)
FORMATS = ("onnx", "torchscript")


@cli_errors
def export(
    model: Path = typer.Argument(..., help="Model checkpoint folder."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="Export format: " + ", ".join(FORMATS) + "."),
    out: Path = typer.Option(None, "--out", "-o", help="Output file (default: MODEL/model.onnx or model.pt)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Export a model; the graph takes raw inputs (uint8 images of any size) and returns probabilities.

    Example: warmstart export runs/best --format onnx -o model.onnx
    """
    from warmstart import export_model

    target = out or model / ("model.onnx" if fmt == "onnx" else "model.pt")
    report = export_model(model, fmt, target)
    if json_out:
        emit_json(report)
    else:
        console.print(f"exported {fmt} to [bold]{target}[/]; input: {report['input']}; "
                      f"max |difference| to PyTorch {report['max_abs_diff']:.1e}")
