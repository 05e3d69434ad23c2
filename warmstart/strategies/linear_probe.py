"""``linear_probe``: a frozen source backbone and a multinomial logistic-regression head.

Feature extraction as in Donahue et al., "DeCAF: A Deep Convolutional Activation Feature
for Generic Visual Recognition", ICML 2014 (and the linear evaluation protocol of
Kornblith, Shlens, Le, "Do Better ImageNet Models Transfer Better?", CVPR 2019, which
also fits the head by L-BFGS).

The backbone runs once in eval mode under ``torch.no_grad()``; its features are cached
(:mod:`warmstart.strategies._frozen_features`: keyed by the source checkpoint's sha256, the
adapted input preparation, the cut depth, the AdaBN statistics and the data), so repeated
fits cost only the head; the AdaBN statistics are computed once per source and pool, and
predictions on inputs seen before (a search's validation and test splits) read their cached
features too. A ``warmstart tune`` of linear-probe settings so runs the backbone once per
image, not once per trial. The head is fitted by full-batch L-BFGS on

    mean cross-entropy + l2/2 · ‖W − W₀‖²

with W₀ the source classifier's weights when the head is reused (the source head is a
prior the few labels correct) and 0 for a new head; the bias is not penalized. With
``bn_adapt="pool"`` the batch-norm statistics are first re-estimated on the unlabelled
target pool (AdaBN, Li et al. 2017). When a reused head has hidden layers, they stay
frozen and only its output layer is refitted.

Defaults: AdaBN on the pool, l2 = 0.1, 200 L-BFGS iterations; chosen on mnist5k-a →
mnist5k-b-noisy (1 shot, seeds 0/1: l2 1e-3/1e-2/0.1 gave 0.69/0.72/0.75 with AdaBN,
0.53 without), never on the benchmark targets.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones.classifier import HeadSpec
from warmstart.engine.device import configure_threads, resolve_device
from warmstart.engine.feature_cache import cached_features, data_fingerprint
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import History
from warmstart.strategies._base import Strategy
from warmstart.strategies._bn import BN_PARAMS, maybe_adapt_bn
from warmstart.strategies._frozen_features import FrozenBackbone, frozen_key, head_proba
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import HEAD_PARAM, freeze
from warmstart.strategies._transfer import source_model
from warmstart.tasks._task import Task


def fit_logistic_regression(feats: Tensor, y: Tensor, n_classes: int, *, l2: float = 0.1,
                            w0: Tensor | None = None, b0: Tensor | None = None,
                            max_iter: int = 200) -> tuple[Tensor, Tensor, float]:
    """Multinomial logistic regression by full-batch L-BFGS.

    Minimizes mean cross-entropy + l2/2·‖W − W₀‖² (W₀ = ``w0`` or 0; bias unpenalized),
    starting from (W₀, b₀).

    Returns:
        Weight (K×D), bias (K) and the final loss.
    """
    feats = feats.float()
    d = feats.shape[1]
    prior = w0.detach().float().clone() if w0 is not None else torch.zeros(n_classes, d)
    w = nn.Parameter(prior.clone())
    b = nn.Parameter(b0.detach().float().clone() if b0 is not None else torch.zeros(n_classes))
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-10)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(feats @ w.T + b, y) + 0.5 * l2 * ((w - prior) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = float(F.cross_entropy(feats @ w.T + b, y) + 0.5 * l2 * ((w - prior) ** 2).sum())
    return w.detach(), b.detach(), final


class LinearProbe(Strategy):
    """Frozen backbone, cached features, logistic-regression head by L-BFGS."""

    name = "linear_probe"
    paper = ("Donahue et al., DeCAF: A Deep Convolutional Activation Feature for Generic Visual "
             "Recognition, ICML 2014; Kornblith et al., Do Better ImageNet Models Transfer Better?, CVPR 2019")
    summary = "frozen backbone (cached features), logistic-regression head"
    needs_source = True
    params: ClassVar[dict[str, Param]] = {
        "l2": Param(0.1, 0.0, 1e4, search=(1e-4, 10.0), log=True,
                    help="L2 strength towards the prior head (the source head when reused, else 0)"),
        "max_iter": Param(200, 1, 100_000, help="L-BFGS iterations"),
        "head": HEAD_PARAM,
        "bn_adapt": Param("pool", choices=("pool", "none"),
                          help=BN_PARAMS["bn_adapt"].help),
    }

    def _fit(self, task: Task, source: Any) -> None:
        configure_threads()
        seed_everything(self.seed)
        model, report = source_model(task, source, self.head, progress=self.progress)
        self.info_.update(report)
        model = model.to(resolve_device(self.device)).eval()
        n_bn = maybe_adapt_bn(model, task, self.bn_adapt, self.seed, cache_key=frozen_key(model, report))
        self.info_["bn_adapted_on"] = n_bn
        freeze([model], True)
        reused = report["head"] == "reuse"
        if not reused and (model.head is None or len(model.head) > 1):
            model.replace_head(task.n_classes, HeadSpec())  # a linear head
        key = frozen_key(model, report, n_bn, pool=task.x_unlabeled, seed=self.seed)
        if key is None:  # weights of unknown identity: features of this fit only
            key = f"unidentified-{uuid.uuid4().hex}"
        feats = cached_features(model, task.x_train, depth=None, key=key,
                                data_key=data_fingerprint(task.x_train))
        assert model.head is not None
        if len(model.head) > 1:  # a reused head's hidden layers stay frozen
            with torch.no_grad():
                feats = model.head[:-1](feats.to(next(model.parameters()).device)).cpu()
        out = model.output_layer
        w0 = out.weight.detach().cpu() if reused else None
        b0 = out.bias.detach().cpu() if reused and out.bias is not None else None
        w, b, loss = fit_logistic_regression(feats, task.y_train.cpu(), task.n_classes, l2=self.l2,
                                             w0=w0, b0=b0, max_iter=self.max_iter)
        with torch.no_grad():
            out.weight.copy_(w.to(out.weight.device))
            if out.bias is not None:
                out.bias.copy_(b.to(out.bias.device))
        self.info_["feature_dim"] = int(feats.shape[1])
        self.info_["head_loss"] = loss
        self.history_ = History(epochs=[{"epoch": 0, "head_loss": loss}], steps=1)
        self.model_ = model
        self._frozen = FrozenBackbone(model, key) if not key.startswith("unidentified-") else None

    def predict_proba(self, x: Any) -> Tensor:
        """Class probabilities (N×K); the frozen backbone's features of ``x`` come from the cache.

        Inputs seen before (the validation and test splits of every trial of a search) are not
        run through the backbone again; once the model's backbone has changed since ``fit`` (it
        was trained further), the whole model runs as usual.
        """
        self._check_fitted()
        proba = head_proba(self.model_, getattr(self, "_frozen", None), x)
        return proba if proba is not None else super().predict_proba(x)
