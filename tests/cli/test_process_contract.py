"""The bad-input contract as a user's shell sees it: the installed ``warmstart`` console script.

Every bad-input case of docs/bad-input.md (the pretrain/transfer tables, the "also refused"
table and the tune/kb table) and the cases of issue 12 (unknown names, out-of-range options,
missing files, ``--device cuda`` without a GPU, failing ``--json`` runs, ``hf:`` backbones on
images) must exit 2 with exactly one stderr line starting ``error:``, no traceback, nothing on
stdout and no output folder left behind.

Each case runs in-process through ``main()``, the function the console script calls (the data,
checkpoint and option tables in tests/cli/test_cli_bad_input.py, the rest here). A
subprocess is kept where the process boundary is the point: one case per way a failure reaches
it (:data:`PROCESS_CASES`: data, checkpoint and option errors, the parser's own usage errors, a
storage, the environment, a ``--json`` run, an output folder, the refused pickles), run
concurrently in a small thread pool; each pays one torch import (about 1.5-2 s of CPU). Before,
all 64 cases ran as subprocesses: 165 s of CPU, the suite's longest fixture. The CLI's start-up
is tested in tests/cli/test_startup.py.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.cli._console import Outcome, run_concurrently, script_env


def _load_bad_input_cases() -> ModuleType:
    """tests/cli/test_cli_bad_input.py's data builders and case tables (one source for both suites)."""
    path = Path(__file__).with_name("test_cli_bad_input.py")
    spec = importlib.util.spec_from_file_location("_warmstart_cli_bad_input_cases", path)
    assert spec is not None and spec.loader is not None
    mod = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    return mod


BAD = _load_bad_input_cases()


@dataclass
class Case:
    """One command line: its arguments, the fragments its error line must contain, its environment."""

    argv: list[str]
    fragments: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    absent: Path | None = None  # an output that must not exist afterwards


# --------------------------------------------------------------------------- cases


def _data_case(name: str) -> Callable[[Path, Path], Case]:
    make, fragments = BAD.DATA_CASES[name]

    def build(root: Path, ckpt: Path) -> Case:
        out = root / "out"
        return Case(["pretrain", "--task", str(make(root)), "-o", str(out), "--epochs", "1", "--device", "cpu"],
                    fragments, absent=out)
    return build


def _checkpoint_case(name: str) -> Callable[[Path, Path], Case]:
    make, fragments = BAD.CHECKPOINT_CASES[name]

    def build(root: Path, ckpt: Path) -> Case:
        out, bad = root / "out", make(ckpt, root)
        return Case(["transfer", "--source", str(bad), "--task", "digits", "--shots", "2", "--epochs", "1",
                     "--device", "cpu", "-o", str(out)], (*fragments, str(bad)), absent=out)
    return build


def _option_case(name: str) -> Callable[[Path, Path], Case]:
    args, fragments = BAD.OPTION_CASES[name]

    def build(root: Path, ckpt: Path) -> Case:
        out = root / "out"
        return Case(["transfer", "--source", str(ckpt), *args, "-o", str(out)], fragments, absent=out)
    return build


def _simple(argv: list[str], *fragments: str, **env: str) -> Callable[[Path, Path], Case]:
    """A case whose arguments may name ``{out}`` (a fresh output path) and ``{ckpt}`` (the tiny checkpoint)."""

    def build(root: Path, ckpt: Path) -> Case:
        out = root / "out"
        args = [a.replace("{out}", str(out)).replace("{ckpt}", str(ckpt)).replace("{root}", str(root)) for a in argv]
        return Case(args, fragments, env=dict(env), absent=out)
    return build


def _thesis(root: Path, ckpt: Path) -> Case:
    mine = root / "thesis"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    return Case(["pretrain", "--task", "iris", "-o", str(mine), "--epochs", "1", "--device", "cpu"],
                ("not empty and not a checkpoint; refusing to overwrite it",))


def _object_npz(root: Path, ckpt: Path) -> Case:
    path = root / "obj.npz"
    np.savez(path, X=np.array([{"a": 1}, {"b": 2}] * 10, dtype=object), y=np.arange(20) % 2)
    return Case(["pretrain", "--task", str(path), "-o", str(root / "out")], ("obj.npz", "without unpickling"),
                absent=root / "out")


def _zoo_files(root: Path) -> tuple[Path, Path]:
    """A safetensors file whose one tensor fits no layout, and a pickle that would run code if unpickled."""
    import pickle

    import torch
    from safetensors.torch import save_file

    bad = root / "bad.safetensors"
    save_file({"x": torch.zeros(3, 3)}, str(bad))
    evil = root / "evil.pth"
    evil.write_bytes(pickle.dumps({"w": _Boom(str(root / "ran"))}))
    return bad, evil


class _Boom:
    """Unpickling it would create a file: the case checks that it is never executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def _zoo_no_layout(root: Path, ckpt: Path) -> Case:
    bad, _ = _zoo_files(root)
    return Case(["import-weights", str(bad), "--model", "timm:test_resnet", "-o", str(root / "out")],
                ("tensor 'x' with shape [3, 3] fits no known layout",), absent=root / "out")


def _zoo_pickle(root: Path, ckpt: Path) -> Case:
    _, evil = _zoo_files(root)
    return Case(["transfer", "--source", "timm:test_resnet", "--weights", str(evil), "--task", "digits",
                 "-o", str(root / "out")], ("is a pickle with objects other than tensors; refused",),
                absent=root / "ran")


NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}
TUNE = ["tune", "--task", "iris", "--strategy", "scratch", "--epochs", "1", "--storage", "{root}/kb.db"]
POOL = ["transfer", "--source", "{ckpt}", "--task", "digits", "--device", "cpu", "-o", "{out}"]

CASES: dict[str, Callable[[Path, Path], Case]] = {
    **{f"data: {n}": _data_case(n) for n in BAD.DATA_CASES},
    **{f"checkpoint: {n}": _checkpoint_case(n) for n in BAD.CHECKPOINT_CASES},
    **{f"option: {n}": _option_case(n) for n in BAD.OPTION_CASES},
    # docs/bad-input.md, "also refused"
    "unknown backbone": _simple(["pretrain", "--task", "iris", "--backbone", "nosuch", "-o", "{out}"],
                                "unknown backbone 'nosuch'", "smallcnn"),
    "unknown pretraining method": _simple(["pretrain", "--task", "iris", "--method", "magic", "-o", "{out}"],
                                          "unknown pretraining method 'magic'"),
    "bad pretraining option": _simple(["pretrain", "--task", "iris", "--lr", "-1", "-o", "{out}"], "lr must be > 0"),
    "output folder holds other files": _thesis,
    "--resume with nothing to resume": _simple(["pretrain", "--task", "iris", "-o", "{out}", "--resume",
                                                "--epochs", "1", "--device", "cpu"], "no interrupted run to resume"),
    # docs/bad-input.md, tune / kb
    "budget of zero trials": _simple([*TUNE, "--budget", "0"], "budget must be at least 1 trial"),
    "budget neither a count nor a time": _simple([*TUNE, "--budget", "10x"], "budget '10x' is not valid"),
    "negative budget": _simple([*TUNE, "--budget", "-5"], "budget '-5' is not valid"),
    "zero trial timeout": _simple([*TUNE, "--trial-timeout", "0"], "--trial-timeout must be a positive number"),
    "negative trial timeout": _simple([*TUNE, "--trial-timeout", "-1"], "--trial-timeout must be a positive"),
    "NaN trial timeout": _simple([*TUNE, "--trial-timeout", "nan"], "--trial-timeout must be a positive"),
    "no workers": _simple([*TUNE, "--jobs", "0"], "jobs must be >= 1"),
    "storage of an unknown kind": _simple([*TUNE[:-2], "--storage", "{root}/kb.txt"], "is not a recognized URL"),
    "empty storage": _simple([*TUNE[:-2], "--storage", " "], "empty storage URL"),
    "journal without a file": _simple([*TUNE[:-2], "--storage", "journal:"], "names no journal file"),
    "unreachable PostgreSQL server": _simple([*TUNE[:-2], "--storage", "postgresql://u@127.0.0.1:1/db"],
                                             "cannot open storage postgresql://u@127.0.0.1:1/db"),
    "database without its driver": _simple([*TUNE[:-2], "--storage", "mysql://u@127.0.0.1:1/db"],
                                           "needs a database driver"),
    "storage folder cannot be created": _simple([*TUNE[:-2], "--storage", "/proc/nope/kb.db"],
                                                "cannot create the folder"),
    "kb on an unknown storage kind": _simple(["kb", "list", "--storage", "{root}/kb.txt"], "not a recognized URL"),
    "unknown warm start": _simple([*TUNE, "--warm-start", "magic"], "unknown warm start 'magic'"),
    "unknown pruner": _simple([*TUNE, "--pruner", "magic"], "unknown pruner 'magic'"),
    "unknown metric": _simple([*TUNE, "--metric", "val_magic"], "unknown metric 'val_magic'"),
    "unknown option of the tuned strategy": _simple([*TUNE, "--nosuch", "1"], "strategy 'scratch' has no option"),
    "fixed option out of range": _simple([*TUNE, "--lr", "100"], "lr=100.0 is out of range"),
    "npz holding pickled Python objects": _object_npz,
    # options typed by the parser itself
    "jobs not a number": _simple([*TUNE, "--jobs", "abc"], "--jobs"),
    "seed not an integer": _simple([*TUNE, "--seed", "1.5"], "--seed"),
    "trial timeout not a number": _simple([*TUNE, "--trial-timeout", "fast"], "--trial-timeout"),
    "unknown command": _simple(["nope"], "No such command"),
    "missing required option": _simple(["transfer"], "--task"),
    # issue 12
    "device cuda without a GPU (transfer)": _simple(
        ["transfer", "--source-task", "mnist5k", "--task", "digits", "--shots", "2", "--device", "cuda",
         "-o", "{out}"], "device 'cuda'", "CUDA is not available", **NO_GPU),
    "device cuda without a GPU (tune)": _simple([*TUNE, "--device", "cuda"], "CUDA is not available", **NO_GPU),
    "hf: backbone on an image task": _simple(["pretrain", "--task", "digits", "--backbone", "hf:all-MiniLM-L6-v2",
                                              "-o", "{out}", "--epochs", "1", "--device", "cpu"],
                                             "is a text encoder", "digits"),
    "failing --json run: unknown task": _simple(["transfer", "--task", "nosuch", "--json"], "unknown task 'nosuch'"),
    "failing --json run: tune budget": _simple([*TUNE, "--budget", "0", "--json"], "budget"),
    "failing --json run: auto": _simple(["auto", "--task", "nosuch", "--json", "--budget", "1"], "unknown task"),
    "missing source checkpoint": _simple(["transfer", "--source", "{root}/nowhere", "--task", "digits"],
                                         "nowhere", "not a folder"),
    "missing model to predict with": _simple(["predict", "{root}/nowhere", "{root}"], "nowhere"),
    "missing run to report": _simple(["report", "{root}/nowhere"], "nowhere", "run.json"),
    # issue 14: model-zoo sources
    "unknown timm model": _simple(["transfer", "--source", "timm:resnet5O", "--task", "digits", "-o", "{out}"],
                                  "unknown timm model 'resnet5O'", "close matches: resnet50"),
    "weights that fit no layout": _zoo_no_layout,
    "pickle that is not a state dict": _zoo_pickle,
    "--weights without a timm source (transfer)": _simple(
        ["transfer", "--task", "digits", "--weights", "{root}/w.safetensors", "-o", "{out}"],
        "--weights FILE goes with one timm model"),
    "--weights without a timm source (auto)": _simple(
        ["auto", "--task", "digits", "--weights", "{root}/w.safetensors", "--budget", "1"],
        "--weights FILE goes with one timm model"),
    "--image-size without a timm source": _simple(
        ["transfer", "--task", "digits", "--source", "hf:all-MiniLM-L6-v2", "--image-size", "64", "-o", "{out}"],
        "--image-size N goes with a timm model"),
    "import-weights of a non-timm model": _simple(
        ["import-weights", "{root}/w.safetensors", "--model", "resnet50", "-o", "{out}"],
        "--model takes a timm model"),
    # issue 15: the unlabelled pool (refused before any training)
    "pool smaller than one unlabelled batch": _simple(
        [*POOL, "--shots", "1", "--strategy", "fixmatch", "--batch-size", "500"],
        "fixmatch: the unlabelled pool of task 'digits' has 1427 examples, fewer than one unlabelled batch (1500)"),
    "pool method without a pool": _simple([*POOL, "--strategy", "fixmatch"],
                                          "fixmatch needs an unlabelled target pool", "has none"),
    "source and target classes differ": _simple(
        ["transfer", "--source-task", "iris", "--task", "wine", "--shots", "0", "--strategy", "dann", "--device",
         "cpu", "-o", "{out}"], "closed-set", "only in source: ['setosa', 'versicolor', 'virginica']",
        "only in target: ['class_0', 'class_1', 'class_2']"),
    "confidence threshold outside (0, 1)": _simple([*POOL, "--shots", "1", "--strategy", "fixmatch",
                                                    "--threshold", "1.5"], "threshold=1.5 is out of range"),
    "semi-supervised method without labels": _simple([*POOL, "--shots", "0", "--strategy", "fixmatch"],
                                                     "'fixmatch' needs labelled target examples"),
    "image-view method on tabular data": _simple(
        ["transfer", "--source-task", "iris", "--task", "iris", "--shots", "0", "--strategy", "self_training",
         "--device", "cpu", "-o", "{out}"], "weak and strong image augmentations", "tabular"),
}


# --------------------------------------------------------------------------- running


def _tiny_checkpoint(out: Path) -> Path:
    """A smallcnn (widths 16, 32, 64: the misfit case names narrower ones) on 200 mnist5k images, 1 epoch."""
    from warmstart.engine import TrainConfig
    from warmstart.pretraining import pretrain_supervised
    from warmstart.tasks import get_task

    task = get_task("mnist5k")
    assert task.x_val is not None and task.y_val is not None
    small = task.replace(x_train=task.x_train[:200], y_train=task.y_train[:200], x_val=task.x_val[:50],
                         y_val=task.y_val[:50], x_test=task.x_test[:50], y_test=task.y_test[:50])
    with warnings.catch_warnings():  # 50 test images of 10 classes: sklearn notes classes missing from y_true
        warnings.simplefilter("ignore", UserWarning)
        pretrain_supervised(small, out, config=TrainConfig(epochs=1, batch_size=64, progress=False),
                            widths=(16, 32, 64))
    return out


#: the cases run through the console script: one per way a failure reaches the process boundary (a data
#: error after torch is imported, a checkpoint, an option, the parser's own usage errors, a storage, the
#: environment, a --json run, an output folder, the refused pickles); every case runs in-process
#: (:func:`test_bad_input_in_process`), through ``main()`` as the console script does
PROCESS_CASES = ("data: NaN in an npz", f"checkpoint: {next(iter(BAD.CHECKPOINT_CASES))}",
                 f"option: {next(iter(BAD.OPTION_CASES))}", "unknown command", "missing required option",
                 "seed not an integer", "unreachable PostgreSQL server", "device cuda without a GPU (transfer)",
                 "device cuda without a GPU (tune)", "failing --json run: auto", "output folder holds other files",
                 "npz holding pickled Python objects", "pickle that is not a state dict")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint every case that needs a source uses (built once for the module)."""
    return _tiny_checkpoint(tmp_path_factory.mktemp("process-contract") / "ckpt")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> dict[str, tuple[Case, Outcome]]:
    """The process cases built once and run concurrently through the console script."""
    base = tmp_path_factory.mktemp("process-cases")
    cases: dict[str, Case] = {}
    for i, name in enumerate(PROCESS_CASES):
        root = base / f"case{i:02d}"
        root.mkdir()
        cases[name] = CASES[name](root, tiny_checkpoint)
    results = run_concurrently({n: (c.argv, script_env(**c.env)) for n, c in cases.items()})
    return {n: (cases[n], results[n]) for n in cases}


def _check(case: Case, code: int, stdout: str, stderr: str) -> None:
    """Exit 2, one stderr line starting ``error:`` with the case's fragments, no traceback, nothing on stdout,
    no output left behind."""
    shown = f"warmstart {' '.join(case.argv)}\nexit {code}\nstdout: {stdout!r}\nstderr: {stderr!r}"
    assert code == 2, shown
    assert "Traceback" not in stdout + stderr, shown
    assert stdout == "", shown
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for fragment in case.fragments:
        assert fragment in lines[0], (fragment, shown)
    if case.absent is not None:
        assert not case.absent.exists(), f"{case.absent} was written: {shown}"


@pytest.mark.parametrize("name", PROCESS_CASES)
def test_bad_input_exits_2_with_one_error_line(name: str, outcomes: dict[str, tuple[Case, Outcome]]) -> None:
    case, res = outcomes[name]
    _check(case, res.code, res.stdout, res.stderr)


#: the tables tests/cli/test_cli_bad_input.py already runs in-process through ``main()`` (pretrain on each bad
#: data file, transfer from each bad checkpoint and with each bad option): not run twice
TABLES_RUN_IN_PROCESS = ("data: ", "checkpoint: ", "option: ")


IN_PROCESS = [n for n in CASES if n not in PROCESS_CASES and not n.startswith(TABLES_RUN_IN_PROCESS)]


@pytest.mark.parametrize("name", IN_PROCESS)
def test_bad_input_in_process(name: str, tiny_checkpoint: Path, tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    """The same contract through ``main()`` in this process (the cases that set an environment run as processes)."""
    case = CASES[name](tmp_path, tiny_checkpoint)
    assert not case.env, f"{name} sets its environment: run it as a process (PROCESS_CASES)"
    run = run_cli(*case.argv)
    _check(case, run.code, run.stdout, run.stderr)


def documented_cases() -> set[str]:
    """The first column of every docs/bad-input.md table whose header starts ``| case |``."""
    doc = (Path(__file__).parents[2] / "docs" / "bad-input.md").read_text()
    rows, in_case_table = set(), False
    for line in doc.splitlines():
        if not line.startswith("|"):
            in_case_table = False
        elif line.startswith("| case |"):
            in_case_table = True
        elif in_case_table and not line.startswith("|---"):
            rows.add(line.split("|")[1].strip().replace("`", ""))
    return rows


def test_every_documented_case_is_run() -> None:
    """Each case row of docs/bad-input.md is a case here (bar the CIFAR pickle, tested in tests/tasks)."""
    def covered(row: str) -> bool:  # "data: NaN in an npz", "failing --json run: auto", "... (tune)"
        return any(n == row or n.split(": ", 1)[-1] == row or n.startswith((f"{row}: ", f"{row} (")) for n in CASES)

    skipped = {"malicious CIFAR pickle"}  # refused by the restricted unpickler: tests/tasks/test_loaders_cifar.py
    documented = documented_cases()
    assert len(documented) > 40, documented  # the parser found the tables
    missing = {row for row in documented - skipped if not covered(row)}
    assert not missing, f"cases of docs/bad-input.md that this module does not run: {sorted(missing)}"
    assert set(PROCESS_CASES) <= set(CASES), set(PROCESS_CASES) - set(CASES)
