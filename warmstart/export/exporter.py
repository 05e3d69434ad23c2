"""Export a checkpoint to ONNX or TorchScript, taking raw inputs (see ``_raw_input``).

Writing is atomic. After an ONNX export the graph is checked with onnxruntime on
raw inputs against PyTorch (max absolute difference of probabilities, 1e-4).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import torch

from warmstart._atomic import atomic_path
from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.errors import ConfigError, IncompatibleError, WarmstartError
from warmstart.export._raw_input import RawInputModel, example_input

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4


def export_model(model_dir: str | Path, fmt: str, out: str | Path) -> dict[str, Any]:
    """Export the checkpoint at ``model_dir`` to ``out`` in format ``fmt``.

    Returns:
        A report: format, path, input description, max difference to PyTorch on a raw test batch.

    Raises:
        ConfigError: unknown format.
        CheckpointError: not a warmstart model.
        IncompatibleError: a model without a classifier head, or text models (tokenization is not exportable).
        WarmstartError: the ``export`` extra is missing.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    ckpt = load_checkpoint(model_dir)
    model = ckpt.model.eval()
    if model.head is None:
        raise IncompatibleError(f"model {model_dir} has no classifier head; fine-tune it on a task before export")
    if model.input_spec.modality == "text":
        raise IncompatibleError("text models cannot be exported (tokenization stays in Python)")
    wrapper = RawInputModel(model).eval()
    x = example_input(model)
    with torch.no_grad():
        expected = wrapper(x)
    out = Path(out)
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripted = torch.jit.trace(wrapper, x, check_trace=False)
        with atomic_path(out) as tmp:
            scripted.save(str(tmp))
        with torch.no_grad():
            got = torch.jit.load(str(out))(example_input(model, batch=3, seed=1))
            ref = wrapper(example_input(model, batch=3, seed=1))
        diff = float((got - ref).abs().max())
    else:
        diff = _export_onnx(wrapper, x, out)
    if diff > TOLERANCE:
        out.unlink(missing_ok=True)
        raise WarmstartError(f"exported {fmt} graph differs from PyTorch by {diff:.2e} (> {TOLERANCE}); not saved")
    inp = (f"uint8 images N x H x W x C (any H, W; C = {model.backbone.spec.in_chans})"
           if model.input_spec.modality == "image" else f"float rows N x {model.backbone.spec.in_chans}")
    return {"format": fmt, "path": str(out), "input": inp, "output": "class probabilities N x K",
            "classes": ckpt.classes, "max_abs_diff": diff, "expected_shape": list(expected.shape)}


def _export_onnx(wrapper: RawInputModel, x: torch.Tensor, out: Path) -> float:
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - in the dev extra
        raise WarmstartError('ONNX export needs the export extra: pip install "warmstart[export]"') from None
    dims = {0: "batch", 1: "height", 2: "width"} if wrapper.is_image else {0: "batch"}
    with atomic_path(out) as tmp, warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (x,), str(tmp), input_names=["input"], output_names=["probabilities"],
                          dynamic_axes={"input": dims, "probabilities": {0: "batch"}}, dynamo=False,
                          opset_version=17)
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        test = x if not wrapper.is_image else torch.randint(0, 256, (3, x.shape[1] + 7, x.shape[2] - 2, x.shape[3]),
                                                            generator=torch.Generator().manual_seed(3),
                                                            dtype=torch.uint8)
        got = sess.run(None, {"input": test.numpy()})[0]
        with torch.no_grad():
            ref = wrapper(test).numpy()
        return float(abs(got - ref).max())
