"""Channels-last vs contiguous memory on this machine: a training step's and an inference pass's milliseconds.

The engine's :class:`~warmstart.engine.Trainer` puts a model with 2-D convolutions in channels-last memory
format (``TrainConfig.channels_last``) on every device; on CPU, PyTorch's oneDNN kernels for convolution,
batch norm and pooling are faster in that layout (PyTorch's "Channels Last Memory Format" tutorial). This
benchmark measures it per backbone: the same model (one initialization) and the same batch, an SGD step
(forward, backward, update) and a ``no_grad`` forward, repeated; the formats alternate in rounds and the
median over rounds is reported, with the ratio contiguous / channels-last (> 1: channels-last faster).

Usage:
    python -m benchmarks.memory_format              # → benchmarks/results/memory_format/
    python -m benchmarks.memory_format --quick      # seconds → benchmarks/results/memory_format/quick/
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: (name, model builder, batch shape): the built-in backbones, and two timm models (random weights)
CASES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("smallcnn (28 px, batch 64)", "smallcnn", (64, 1, 28, 28)),
    ("resnet (32 px, batch 32)", "resnet", (32, 3, 32, 32)),
    ("timm efficientnet_lite0 (96 px, batch 16)", "timm:efficientnet_lite0", (16, 3, 96, 96)),
    ("timm resnet18 (64 px, batch 16)", "timm:resnet18", (16, 3, 64, 64)),
)


def build(name: str, in_chans: int) -> Any:
    """A model with a 10-class linear head on top of backbone ``name`` (timm models: no pretrained weights)."""
    import torch
    from torch import nn

    if name.startswith("timm:"):
        import timm

        return timm.create_model(name[5:], num_classes=10, in_chans=in_chans)
    from warmstart.backbones import create_backbone

    bb = create_backbone(name, in_chans=in_chans)
    with torch.no_grad():
        dim = bb(torch.zeros(2, in_chans, 32, 32)).shape[1]
    return nn.Sequential(bb, nn.Linear(dim, 10))


def timings(model: Any, shape: tuple[int, ...], steps: int) -> tuple[Callable[[], float], Callable[[], float]]:
    """(ms of ``steps`` training steps, ms of ``steps`` inference passes), each callable timing one round."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    x, y = torch.randn(*shape), torch.randint(0, 10, (shape[0],))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return 1000.0 * (time.perf_counter() - t0) / steps

    def infer() -> float:
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                model(x)
        return 1000.0 * (time.perf_counter() - t0) / steps

    return train, infer


def measure(case: tuple[str, str, tuple[int, ...]], rounds: int, steps: int) -> dict[str, Any]:
    """One backbone's medians over ``rounds`` (formats alternating), in ms."""
    import torch

    label, name, shape = case
    base = build(name, shape[1])
    models = {"contiguous": copy.deepcopy(base),
              "channels_last": copy.deepcopy(base).to(memory_format=torch.channels_last)}
    fns = {k: timings(m, shape, steps) for k, m in models.items()}
    for train, infer in fns.values():  # warm-up
        train()
        infer()
    got: dict[str, list[float]] = {f"{k} {w}": [] for k in fns for w in ("step", "inference")}
    for _ in range(rounds):
        for k, (train, infer) in fns.items():
            got[f"{k} step"].append(train())
            got[f"{k} inference"].append(infer())
    med = {k: statistics.median(v) for k, v in got.items()}
    return {"model": label, **{f"{k} ms": round(v, 2) for k, v in med.items()},
            "step speed-up": round(med["contiguous step"] / med["channels_last step"], 2),
            "inference speed-up": round(med["contiguous inference"] / med["channels_last inference"], 2)}


def main(argv: list[str] | None = None) -> int:
    """Measure every case; write README.md."""
    import torch

    from benchmarks._report import markdown_table, output_folder, provenance
    from warmstart._atomic import write_text_atomic

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--quick", action="store_true", help="the small CNN only, 2 rounds of 3 steps")
    p.add_argument("--note", default="", help="a line for the provenance (e.g. quiet-run's load line)")
    a = p.parse_args(argv)
    try:
        folder = output_folder("memory_format", a.quick, a.out)
    except ValueError as exc:
        p.error(str(exc))
    cases = CASES[:1] if a.quick else CASES
    rounds, steps = (2, 3) if a.quick else (a.rounds, a.steps)
    rows = []
    for case in cases:
        rows.append(measure(case, rounds, steps))
        print(rows[-1], flush=True)
    command = " ".join(["python -m benchmarks.memory_format", *(argv if argv is not None else sys.argv[1:])])
    text = "\n".join([
        "# Channels-last vs contiguous memory", "", __doc__.split("Usage:")[0].split("\n", 2)[2].strip(), "",
        f"## Medians over {rounds} rounds of {steps} steps (torch threads {torch.get_num_threads()})", "",
        markdown_table(rows), "", "## Provenance", "", provenance(command, [0], notes=a.note), ""])
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "README.md", text)
    print(f"wrote {folder / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
