"""The exportable graph of a text classifier: token ids and attention mask → probabilities.

A tokenizer cannot live inside an ONNX graph, so an exported text model takes the
tokenizer's output: ``input_ids`` and ``attention_mask`` (int64 N×L, any N and L).
The tokenizer's name or folder and its settings (``max_length``, padding,
truncation) go into the export's metadata; :func:`run_text_onnx` tokenizes with
them and runs the graph, as ``predict`` does on an ``.onnx`` file.

Only :class:`~warmstart.backbones.hf_text.HFTextBackbone` models with stages split
layer by layer (``split == "stages"``) and no neck are exportable; others raise an
:class:`~warmstart.errors.IncompatibleError` naming the limitation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier
from warmstart.errors import CheckpointError, IncompatibleError

INPUT_NAMES = ("input_ids", "attention_mask")
PROBE_TEXTS = ["Warm starts reuse what earlier tasks learned.", "A short one.",
               "The weather is sunny today, and the match starts at noon in the old stadium."]


class TextGraph(nn.Module):
    """``(input_ids, attention_mask)`` → class probabilities, around a text :class:`Classifier`."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        backbone = model.backbone
        if getattr(backbone, "split", None) != "stages":
            raise IncompatibleError("text export supports Hugging Face encoders split layer by layer; this "
                                    "encoder runs as one block (tokenization inside), so it cannot be exported")
        if not isinstance(model.neck, nn.Identity):
            raise IncompatibleError("text models with a neck cannot be exported")
        if model.head is None:
            raise IncompatibleError("the model has no classifier head")
        cut = backbone.num_stages if model.depth is None else model.depth
        self.embeddings: nn.Module = backbone.stages[0].embeddings  # type: ignore[assignment]
        self.layers = nn.ModuleList([s.layer for s in backbone.stages[1:cut]])  # type: ignore[misc]
        self.head = model.head

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        hidden = self.embeddings(input_ids=input_ids)
        w = attention_mask.to(hidden.dtype)
        bias = (1.0 - w[:, None, None, :]) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            out = layer(hidden, bias)
            hidden = out[0] if isinstance(out, tuple) else out
        wm = w.unsqueeze(-1)
        pooled = (hidden * wm).sum(dim=1) / wm.sum(dim=1).clamp_min(1.0)
        return torch.softmax(self.head(pooled), dim=1)


def tokenizer_folder(model: Classifier) -> str:
    """The tokenizer's name or folder, as given to ``hf:`` (the backbone spec's name without ``hf:``)."""
    name = str(model.backbone.spec.name)
    return name[len("hf:"):] if name.startswith("hf:") else name


def tokenize(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """The graph's inputs for ``texts``: int64 ``input_ids`` and ``attention_mask``."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np")
    return {k: np.asarray(enc[k], dtype=np.int64) for k in INPUT_NAMES}


def text_contract(model: Classifier) -> dict[str, Any]:
    """The ``input`` part of an exported text model's contract (stored in its metadata)."""
    return {"names": list(INPUT_NAMES), "dtype": "int64", "layout": "N x L (any N, L)",
            "tokenizer": tokenizer_folder(model), "max_length": int(model.backbone.spec.kwargs.get("max_length", 128)),
            "padding": "longest in the batch", "truncation": True,
            "pooling": "attention-masked mean of the last hidden states"}


def load_tokenizer(name: str) -> Any:
    """The tokenizer stored in an export's metadata (a folder, or a hub name in the local cache).

    Raises:
        CheckpointError: it cannot be loaded (names it).
    """
    from warmstart.backbones.hf_text import _import_transformers, _resolve

    transformers = _import_transformers()
    try:
        return transformers.AutoTokenizer.from_pretrained(_resolve(name))
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"the export's tokenizer {name!r} cannot be loaded: {first}") from None


def run_text_onnx(session: Any, meta: dict[str, Any], texts: list[str], path: Path) -> np.ndarray:
    """Tokenize ``texts`` as the export's metadata says and run the ONNX ``session``: N×K probabilities.

    Raises:
        CheckpointError: the metadata names no tokenizer, or it cannot be loaded.
    """
    inp = meta.get("input") or {}
    if "tokenizer" not in inp:
        raise CheckpointError(f"{path}: the export's metadata names no tokenizer")
    tok = load_tokenizer(str(inp["tokenizer"]))
    out = [session.run(None, tokenize(tok, texts[i:i + 64], int(inp.get("max_length", 128))))[0]
           for i in range(0, len(texts), 64)]
    return np.concatenate(out)
