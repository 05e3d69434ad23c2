"""Load an image folder: one subfolder of images per class (torchvision's ImageFolder layout).

::

    root/
      cat/   a.png b.jpg ...      class "cat" (classes are the sorted folder names)
      dog/   ...
      unlabeled/  ...             optional: images without a class → the unlabelled pool

Images are read with Pillow (PNG, JPEG, BMP, GIF, TIFF, WebP; other files are
ignored). The channel count is the majority over the files (grey modes → 1,
colour → 3; a tie → 3) and every image is converted to it; images whose size
differs from ``image_size`` (default: the most common size) are resized
bilinearly. The labelled images are split 70/10/20, stratified and seeded.

Pixel values are rescaled by each file's mode and bit depth (16-bit by 65535,
palettes looked up, CMYK converted, alpha composited on black; see
:mod:`warmstart.tasks.loaders._decode`).

When count × C×H×W × 4 bytes exceeds ``memory_budget_mb`` the splits are
:class:`~warmstart.tasks.loaders._image_files.ImageFileDataset` objects that
decode files on access, instead of float tensors. Every file is still decoded
once at load time (and the pixels dropped), so corrupt or truncated files are
all found before training: one DataError lists them (the first ten and a
count), or ``skip_bad=True`` leaves them out and records them in
``provenance["skipped_files"]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart.errors import ConfigError, DataError
from warmstart.tasks._task import Task
from warmstart.tasks.loaders._build import ArrayData, build_task, split_three
from warmstart.tasks.loaders._image_files import (
    IMAGE_EXTENSIONS,
    ImageFileDataset,
    decode_image,
    probe_image,
)

OPTIONS: dict[str, Any] = {"image_size": None, "memory_budget_mb": 1024, "seed": 0, "skip_bad": False}
MAX_LISTED = 10  # unreadable files named in one error message; the rest are counted
UNLABELED_DIRS = ("unlabeled", "unlabelled")


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted; hidden entries skipped)."""
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _parse_size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    elif isinstance(image_size, (list, tuple)) and len(image_size) == 2:
        size = (image_size[0], image_size[1])
    else:
        raise ConfigError(f"image_size must be an int or (height, width), got {image_size!r}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(f"image_size must hold positive ints, got {image_size!r}")
    return int(size[0]), int(size[1])


def _common_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """Most common (H, W); ties go to the larger area, then the smaller (H, W)."""
    counts = Counter(sizes)
    return min(counts, key=lambda s: (-counts[s], -s[0] * s[1], s))


def _scan(path: Path) -> tuple[list[str], list[Path], list[int], list[Path]]:
    """Class names, labelled files, their labels and the unlabelled files."""
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    if not entries:
        raise DataError(f"{path}: folder is empty; expected one subfolder of images per class")
    class_dirs = sorted(p for p in entries if p.is_dir() and p.name not in UNLABELED_DIRS)
    if not class_dirs:
        found = ", ".join(sorted(p.name for p in entries)[:5])
        raise DataError(
            f"{path}: no class subfolders (found {found}); expected one subfolder of images per class"
        )
    files: list[Path] = []
    labels: list[int] = []
    for c, folder in enumerate(class_dirs):
        found_files = image_files(folder)
        if not found_files:
            raise DataError(
                f"{folder}: class folder {folder.name!r} has no images "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        files += found_files
        labels += [c] * len(found_files)
    if len(class_dirs) < 2:
        raise DataError(
            f"{path}: only one class subfolder ({class_dirs[0].name!r}); a task needs at least 2"
        )
    unlabeled = [f for d in UNLABELED_DIRS if (path / d).is_dir() for f in image_files(path / d)]
    return [d.name for d in class_dirs], files, labels, unlabeled


def _report(path: Path, bad: list[tuple[Path, DataError]]) -> DataError:
    """One DataError listing every unreadable file (the first :data:`MAX_LISTED`, then a count)."""
    listed = "; ".join(str(err).replace(str(f), str(f.relative_to(path)), 1) for f, err in bad[:MAX_LISTED])
    more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    return DataError(
        f"{path}: {len(bad)} unreadable image file(s): {listed}{more}; fix or remove them, or skip them "
        f"with --skip-bad (skip_bad=True in Python)"
    )


def _check_files(
    files: list[Path], channels: int | None, size: tuple[int, int] | None, keep: bool,
) -> tuple[dict[Path, Any], list[tuple[Path, DataError]]]:
    """Probe (``channels`` None) or fully decode every file; return the results and the failures."""
    out: dict[Path, Any] = {}
    bad: list[tuple[Path, DataError]] = []
    for f in files:
        try:
            if channels is None or size is None:
                out[f] = probe_image(f)
            else:
                arr = decode_image(f, channels, size)
                out[f] = arr if keep else None
        except DataError as err:
            bad.append((f, err))
    return out, bad


def load_image_folder(
    path: Path, image_size: int | Sequence[int] | None = None, memory_budget_mb: float = 1024,
    seed: int = 0, skip_bad: bool = False,
) -> Task:
    """Load an image folder as an image task (see the module docstring).

    Every file is decoded once at load time, also when the splits then stream
    from disk, so all unreadable files are found in one run: they are listed
    together in one DataError (the first ten, then a count), or skipped with
    ``skip_bad``. ``task.provenance["skipped_files"]`` lists the skipped paths
    (empty when none).

    Args:
        path: The root folder.
        image_size: Common size, an int (square) or (height, width); default the
            most common size among the images.
        memory_budget_mb: Above this estimated size (float32) the splits stream from disk.
        seed: Seed of the stratified 70/10/20 split.
        skip_bad: Leave out corrupt or unreadable files instead of raising.

    Raises:
        DataError: empty folder, no class subfolders, a class folder without
            (readable) images, unreadable images without ``skip_bad`` (names them).
        ConfigError: bad ``image_size`` or ``memory_budget_mb``.
    """
    size = _parse_size(image_size)
    if isinstance(memory_budget_mb, bool) or not isinstance(memory_budget_mb, (int, float)) \
            or not memory_budget_mb > 0:
        raise ConfigError(f"memory_budget_mb must be a positive number, got {memory_budget_mb!r}")
    classes, files, labels, unlabeled = _scan(path)
    headers, bad = _check_files([*files, *unlabeled], None, None, keep=False)
    if not headers:
        raise _report(path, bad)
    n_grey = sum(h[2] for h in headers.values())
    channels = 1 if n_grey > len(headers) - n_grey else 3
    size = size or _common_size([(h, w) for h, w, _ in headers.values()])
    estimate = len(headers) * channels * size[0] * size[1] * 4
    streaming = estimate > memory_budget_mb * 2**20
    decoded, bad_pixels = _check_files(list(headers), channels, size, keep=not streaming)
    bad = sorted([*bad, *bad_pixels], key=lambda b: b[0])
    if bad and not skip_bad:
        raise _report(path, bad)
    skipped = {f for f, _ in bad}
    kept = [(f, c) for f, c in zip(files, labels, strict=True) if f not in skipped]
    _check_classes(path, classes, [c for _, c in kept])
    files, labels = [f for f, _ in kept], [c for _, c in kept]
    unlabeled = [f for f in unlabeled if f not in skipped]
    good = [headers[f] for f in [*files, *unlabeled]]
    prov: dict[str, Any] = {
        "source": str(path), "format": "image folder", "channels": channels,
        "image_size": list(size), "streaming": streaming,
        "estimated_mb": round(len(good) * channels * size[0] * size[1] * 4 / 2**20, 3),
        "resized": sum((h, w) != size for h, w, _ in good),
        "converted": sum(g != (channels == 1) for _, _, g in good),
        "skipped_files": [str(f) for f, _ in bad],
    }
    y = np.asarray(labels, dtype=np.int64)
    if not streaming:
        x = np.stack([decoded[f] for f in files])
        xu = np.stack([decoded[f] for f in unlabeled]) if unlabeled else None
        data = ArrayData(name=path.name, x=x, y=y, classes=classes, modality="image",
                         x_unlabeled=xu, provenance=prov)
        return build_task(data, seed=seed)
    tr, va, te, how = split_three(y, seed, str(path))

    def split(idx: np.ndarray) -> tuple[ImageFileDataset, torch.Tensor]:
        return (ImageFileDataset([files[i] for i in idx], y[idx].tolist(), channels, size),
                torch.from_numpy(y[idx]))

    (xtr, ytr), (xva, yva), (xte, yte) = split(tr), split(va), split(te)
    return Task(
        name=path.name, x_train=xtr, y_train=ytr, x_val=xva, y_val=yva, x_test=xte, y_test=yte,
        classes=classes, modality="image", input_shape=(channels, *size),
        x_unlabeled=ImageFileDataset(unlabeled, None, channels, size) if unlabeled else None,
        provenance={**prov, "seed": seed, "split": how},
    )


def _check_classes(path: Path, classes: list[str], labels: list[int]) -> None:
    """Every class keeps at least one readable image after skipping."""
    counts = Counter(labels)
    empty = [classes[c] for c in range(len(classes)) if counts[c] == 0]
    if empty:
        raise DataError(f"{path}: class folder(s) {', '.join(map(repr, empty))} have no readable images "
                        "left after skipping unreadable files")
