"""``warmstart predict``: class and probability for each input, as CSV."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import typer

from warmstart._atomic import write_text_atomic
from warmstart.cli._common import cli_errors, err_console


@cli_errors
def predict(
    model: Path = typer.Argument(..., help="Model checkpoint folder, or an .onnx file from `warmstart export`."),
    inputs: Path = typer.Argument(..., help="Image folder, single image, .npz (array X) or .csv."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the CSV here instead of stdout."),
    text_column: str = typer.Option(None, "--text-column",
                                    help="Text models: the CSV text column (default text)."),
) -> None:
    """Predict classes; writes CSV rows input,class,probability.

    Example: warmstart predict runs/best images/ -o predictions.csv
    """
    from warmstart import predict_files

    rows = predict_files(model, inputs, text_column=text_column)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["input", "class", "probability"])
    writer.writeheader()
    writer.writerows(rows)
    if out is None:
        sys.stdout.write(buf.getvalue())
    else:
        write_text_atomic(out, buf.getvalue())
        err_console.print(f"wrote {len(rows)} predictions to {out}")
