"""Export a checkpoint to ONNX or TorchScript, taking raw inputs (see ``_raw_input``).

Image graphs take uint8 N×H×W×C images with symbolic batch, height, width and
channel axes (C = 1-4 for grey or RGB models, converted inside the graph); the
input contract and class names go into the file (see ``_metadata``). Writing is
atomic, and the file is replaced only after the written graph, run by
onnxruntime or ``torch.jit.load`` on raw inputs of another size and of every
accepted channel count, matches PyTorch within 1e-4 (max absolute difference of
probabilities).

Text models export to ONNX only, as a graph taking the tokenizer's ``input_ids`` and
``attention_mask`` (see ``_text_graph``; the tokenizer's name or folder is stored in
the metadata); checked against PyTorch on tokenized sentences of other lengths.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart._atomic import atomic_path
from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.errors import ConfigError, IncompatibleError, WarmstartError
from warmstart.export._metadata import TORCHSCRIPT_FILE, contract, write_onnx_metadata
from warmstart.export._raw_input import RawInputModel, accepted_channels, example_input

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4
OPSET = 17


def export_model(model_dir: str | Path, fmt: str, out: str | Path) -> dict[str, Any]:
    """Export the checkpoint at ``model_dir`` to ``out`` in format ``fmt``.

    Returns:
        A report: format, path, input description, classes, the stored contract and the
        max difference to PyTorch on raw test batches.

    Raises:
        ConfigError: unknown format.
        CheckpointError: not a warmstart model.
        IncompatibleError: a model without a classifier head; a text model to TorchScript, or one whose
            encoder is not split layer by layer (the tokenizer itself is never in the graph).
        WarmstartError: the ``export`` extra is missing, or the written graph differs from PyTorch
            (then nothing is written).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    ckpt = load_checkpoint(model_dir)
    model = ckpt.model.eval()
    if model.head is None:
        raise IncompatibleError(f"model {model_dir} has no classifier head; fine-tune it on a task before export")
    if model.input_spec.modality == "text":
        return _export_text(model, ckpt.classes, ckpt.meta.get("source_task"), fmt, Path(out))
    wrapper = RawInputModel(model).eval()
    meta = contract(model, ckpt.classes, ckpt.meta.get("source_task"))
    x = example_input(model)
    out = Path(out)
    with atomic_path(out) as tmp:
        if fmt == "torchscript":
            run = _export_torchscript(wrapper, x, tmp, meta)
        else:
            run = _export_onnx(wrapper, x, tmp, meta)
        diff = _max_diff(wrapper, run)
        if diff > TOLERANCE:
            raise WarmstartError(f"exported {fmt} graph differs from PyTorch by {diff:.2e} (> {TOLERANCE}); "
                                 "not saved")
    chans = model.input_channels
    if wrapper.is_image:
        accepted = "/".join(str(c) for c in accepted_channels(model))
        inp = f"uint8 images N x H x W x C (any H, W; C = {accepted}; the model takes {chans})"
    else:
        inp = f"float rows N x {chans}"
    return {"format": fmt, "path": str(out), "input": inp, "output": "class probabilities N x K",
            "classes": ckpt.classes, "contract": meta, "max_abs_diff": diff}


def _test_inputs(wrapper: RawInputModel) -> list[torch.Tensor]:
    """Raw batches unlike the tracing one: another size and every accepted channel count."""
    model = wrapper.model
    if not wrapper.is_image:
        return [example_input(model, batch=3, seed=1)]
    gen = torch.Generator().manual_seed(3)
    h, w = wrapper.size or (32, 32)
    return [torch.randint(0, 256, (3, h + 7 + c, max(w - 2 * c, 1), c), generator=gen, dtype=torch.uint8)
            for c in accepted_channels(model)]


def _max_diff(wrapper: RawInputModel, run: Callable[[torch.Tensor], np.ndarray]) -> float:
    diff = 0.0
    for test in _test_inputs(wrapper):
        with torch.no_grad():
            ref = wrapper(test).numpy()
        diff = max(diff, float(np.abs(run(test) - ref).max()))
    return diff


def _export_torchscript(wrapper: RawInputModel, x: torch.Tensor, tmp: Path,
                        meta: dict[str, Any]) -> Callable[[torch.Tensor], np.ndarray]:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings
        scripted = torch.jit.trace(wrapper, x, check_trace=False)
        torch.jit.save(scripted, str(tmp), _extra_files={TORCHSCRIPT_FILE: json.dumps(meta, sort_keys=True)})
        loaded = torch.jit.load(str(tmp))

    def run(test: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return loaded(test).numpy()  # type: ignore[no-any-return]

    return run


def _export_onnx(wrapper: RawInputModel, x: torch.Tensor, tmp: Path,
                 meta: dict[str, Any]) -> Callable[[torch.Tensor], np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - in the dev extra
        raise WarmstartError('ONNX export needs the export extra: pip install "warmstart[export]"') from None
    dims = {0: "batch", 1: "height", 2: "width", 3: "channels"} if wrapper.is_image else {0: "batch"}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (x,), str(tmp), input_names=["input"], output_names=["probabilities"],
                          dynamic_axes={"input": dims, "probabilities": {0: "batch"}}, dynamo=False,
                          opset_version=OPSET)
    write_onnx_metadata(tmp, meta)
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])

    def run(test: torch.Tensor) -> np.ndarray:
        return sess.run(None, {"input": test.numpy()})[0]  # type: ignore[no-any-return]

    return run


def _export_text(model: Any, classes: list[str] | None, source_task: str | None, fmt: str,
                 out: Path) -> dict[str, Any]:
    """ONNX export of a text classifier: token ids and mask in, probabilities out (see ``_text_graph``)."""
    from warmstart.export._text_graph import INPUT_NAMES, PROBE_TEXTS, TextGraph, text_contract, tokenize

    if fmt != "onnx":
        raise IncompatibleError("text models export to ONNX only (the tokenizer stays outside the graph); "
                                "use --format onnx")
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - in the dev extra
        raise WarmstartError('ONNX export needs the export extra: pip install "warmstart[export]"') from None
    graph = TextGraph(model).eval()
    meta = contract(model, classes, source_task)
    meta["input"] = text_contract(model)
    meta["model"] = {"channels": 0, "input_size": None, "mean": [], "std": [], "normalization": "none"}
    tok, max_length = model.backbone.tokenizer, meta["input"]["max_length"]
    trace = {k: torch.from_numpy(v) for k, v in tokenize(tok, PROBE_TEXTS[:2], max_length).items()}
    dims = {0: "batch", 1: "tokens"}
    with atomic_path(out) as tmp:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (trace["input_ids"], trace["attention_mask"]), str(tmp),
                              input_names=list(INPUT_NAMES), output_names=["probabilities"],
                              dynamic_axes={**{k: dims for k in INPUT_NAMES}, "probabilities": {0: "batch"}},
                              dynamo=False, opset_version=OPSET)
        write_onnx_metadata(tmp, meta)
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        diff = 0.0
        for texts in (PROBE_TEXTS, PROBE_TEXTS[2:], PROBE_TEXTS[1:2]):  # other batch sizes and lengths
            feed = tokenize(tok, texts, max_length)
            with torch.no_grad():
                ref = torch.softmax(model(texts), dim=1).numpy()
            diff = max(diff, float(np.abs(sess.run(None, feed)[0] - ref).max()))
        if diff > TOLERANCE:
            raise WarmstartError(f"exported onnx graph differs from PyTorch by {diff:.2e} (> {TOLERANCE}); "
                                 "not saved")
    return {"format": fmt, "path": str(out),
            "input": f"int64 input_ids and attention_mask N x L from tokenizer {meta['input']['tokenizer']}",
            "output": "class probabilities N x K", "classes": classes, "contract": meta, "max_abs_diff": diff}
