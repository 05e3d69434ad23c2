"""The input contract and class names an exported model carries.

ONNX files keep them in ``metadata_props``: ``warmstart`` holds the JSON contract
below and ``classes`` the JSON list of class names (also inside the contract);
TorchScript files keep the contract as the extra file ``warmstart.json``.
``predict`` reads the ONNX contract back to name the classes and to feed the graph.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warmstart._version import __version__
from warmstart.backbones.classifier import Classifier
from warmstart.errors import CheckpointError, WarmstartError
from warmstart.export._image_prep import LUMA_WEIGHTS
from warmstart.export._raw_input import accepted_channels

META_KEY = "warmstart"
CLASSES_KEY = "classes"
TORCHSCRIPT_FILE = "warmstart.json"
CONTRACT_VERSION = 1


def contract(model: Classifier, classes: list[str] | None, source_task: str | None = None) -> dict[str, Any]:
    """The JSON-serializable description of an exported graph's input and output."""
    spec = model.input_spec
    chans = model.input_channels
    inp: dict[str, Any]
    if spec.modality == "image":
        inp = {"name": "input", "dtype": "uint8", "layout": "NHWC", "height": "any", "width": "any",
               "channels": accepted_channels(model),
               "conversion": ("alpha dropped; grey repeated to RGB; RGB to grey as Pillow's L = "
                              f"(R*{LUMA_WEIGHTS[0]:.0f} + G*{LUMA_WEIGHTS[1]:.0f} + B*{LUMA_WEIGHTS[2]:.0f}"
                              " + 32768) >> 16"),
               "scale": "x / 255", "resize": "Pillow BILINEAR (antialiased when shrinking)"}
    else:
        inp = {"name": "input", "dtype": "float32", "layout": "NF", "features": chans}
        if spec.scaler is not None:
            inp["scale"] = "raw feature values: (x - feature_mean) / feature_std inside the graph"
            inp["feature_mean"], inp["feature_std"] = list(spec.feature_mean), list(spec.feature_std)
    return {
        "format": "warmstart-export", "version": CONTRACT_VERSION, "warmstart_version": __version__,
        "modality": spec.modality, "classes": list(classes or []), "source_task": source_task,
        "input": inp,
        "model": {"channels": chans, "input_size": list(spec.input_size) if spec.input_size else None,
                  "mean": list(spec.mean), "std": list(spec.std), "normalization": "(x - mean) / std per channel",
                  "repeat_grey_to": int(model.backbone.spec.in_chans) if spec.repeat_grey else None},
        "output": {"name": "probabilities", "dtype": "float32", "shape": "N x K", "K": len(classes or [])},
    }


def write_onnx_metadata(path: Path, meta: dict[str, Any]) -> None:
    """Store ``meta`` (and its classes) in the ``metadata_props`` of the ONNX file at ``path``, in place.

    Only called on the temporary file of :func:`~warmstart.export.exporter.export_model`'s atomic write.
    """
    try:
        import onnx
    except ImportError:  # pragma: no cover - in the export extra
        raise WarmstartError('ONNX export needs the export extra: pip install "warmstart[export]"') from None
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    props[META_KEY] = json.dumps(meta, sort_keys=True)
    props[CLASSES_KEY] = json.dumps(meta["classes"])
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(path))


def read_onnx_metadata(session: Any, path: Path) -> dict[str, Any]:
    """The contract stored in an onnxruntime ``session``'s model.

    Raises:
        CheckpointError: the file was not exported by warmstart (no or unreadable contract).
    """
    props = session.get_modelmeta().custom_metadata_map
    if META_KEY not in props:
        raise CheckpointError(f"{path}: ONNX file has no warmstart metadata; export it with `warmstart export`")
    try:
        meta = json.loads(props[META_KEY])
    except ValueError:
        raise CheckpointError(f"{path}: unreadable warmstart metadata in the ONNX file") from None
    if not isinstance(meta, dict) or "input" not in meta or "model" not in meta:
        raise CheckpointError(f"{path}: incomplete warmstart metadata in the ONNX file")
    return meta
