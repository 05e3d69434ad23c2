"""``warmstart import-weights``: a foreign weights file as an ordinary checkpoint folder, once."""

from __future__ import annotations

from pathlib import Path

import typer

from warmstart.cli._common import IMAGE_SIZE_HELP, cli_errors, console


@cli_errors
def import_weights(
    file: Path = typer.Argument(..., help="Weights file: .safetensors, or a .pth/.bin state dict (read without "
                                "running pickled code); timm, torchvision-ResNet or EfficientNet-PyTorch layout."),
    model: str = typer.Option(..., "--model", "-m", help="The timm model the weights belong to: timm:NAME."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint folder to write (safetensors + meta.json)."),
    image_size: int = typer.Option(None, "--image-size", help=IMAGE_SIZE_HELP),
    force: bool = typer.Option(False, "--force", help="Replace OUT when it holds something else."),
) -> None:
    """Turn a weights file into a checkpoint folder that every command takes as --source.

    Importing the same file into the same folder again does nothing.

    Example: warmstart import-weights lite0.pth --model timm:efficientnet_lite0 -o lite0/
    """
    from warmstart.backbones.import_weights import import_weights as run_import
    from warmstart.errors import ConfigError

    if not model.startswith("timm:"):
        raise ConfigError(f"--model takes a timm model (timm:NAME), got {model!r}")
    if not file.is_file():
        raise ConfigError(f"weights file {file} does not exist")
    if image_size is not None and image_size < 16:
        raise ConfigError(f"--image-size must be at least 16 pixels, got {image_size}")
    size = None if image_size is None else (image_size, image_size)
    path = run_import(file, model, out, input_size=size, overwrite=force)
    console.print(f"saved {path}")
