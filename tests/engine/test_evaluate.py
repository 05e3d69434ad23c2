"""Evaluation metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss
from torch import nn

from warmstart.engine import classification_metrics, evaluate, expected_calibration_error, predict_proba

# 4 examples, 3 classes: confidences 0.9 (right), 0.9 (wrong), 0.7 (right), 0.5 (wrong)
PROBS = torch.tensor([
    [0.9, 0.05, 0.05],
    [0.9, 0.05, 0.05],
    [0.2, 0.7, 0.1],
    [0.3, 0.2, 0.5],
])
Y = torch.tensor([0, 1, 1, 0])


def test_ece_by_hand() -> None:
    # bins (15 equal-width): {0.9, 0.9} acc 0.5; {0.7} acc 1; {0.5} acc 0
    expected = 0.5 * abs(0.9 - 0.5) + 0.25 * abs(0.7 - 1.0) + 0.25 * abs(0.5 - 0.0)
    assert expected_calibration_error(PROBS, Y) == pytest.approx(expected, abs=1e-6)  # 0.4


def test_ece_zero_when_confident_and_right_and_one_bin_case() -> None:
    probs = torch.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(probs, torch.tensor([0, 1, 2, 0])) == pytest.approx(0.0)
    # one bin: mean confidence 0.6, accuracy 0.5 -> ECE 0.1
    probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]])
    assert expected_calibration_error(probs, torch.tensor([0, 1]), n_bins=1) == pytest.approx(0.1, abs=1e-6)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_classification_metrics_match_sklearn() -> None:
    m = classification_metrics(PROBS, Y)
    pred = PROBS.argmax(1).numpy()
    assert m["accuracy"] == pytest.approx(accuracy_score(Y.numpy(), pred))  # 0.5
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(Y.numpy(), pred))
    # class 2 is predicted but never true: macro-F1 averages over all 3 classes
    assert m["macro_f1"] == pytest.approx(f1_score(Y.numpy(), pred, average="macro", labels=[0, 1, 2],
                                                   zero_division=0))
    assert m["nll"] == pytest.approx(log_loss(Y.numpy(), PROBS.numpy(), labels=[0, 1, 2]), rel=1e-5)
    assert m["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.05) + math.log(0.7) + math.log(0.3)) / 4,
                                     rel=1e-5)
    assert m["ece"] == pytest.approx(0.4, abs=1e-6)


def test_metrics_on_random_predictions_match_sklearn() -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(200, 5, generator=g), 1)
    y = torch.randint(0, 5, (200,), generator=g)
    m = classification_metrics(probs, y)
    pred = probs.argmax(1).numpy()
    assert m["accuracy"] == pytest.approx(accuracy_score(y.numpy(), pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y.numpy(), pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y.numpy(), pred, average="macro"))
    p64 = probs.double().numpy()
    assert m["nll"] == pytest.approx(log_loss(y.numpy(), p64 / p64.sum(1, keepdims=True)), rel=1e-4)


def test_predict_proba_evaluates_in_eval_mode_and_restores_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    x = torch.randn(10, 4)
    model.train()
    a = predict_proba(model, x, batch_size=3)
    b = predict_proba(model, x, batch_size=512)
    assert model.training
    assert torch.allclose(a, b, atol=1e-6)  # dropout off, batching irrelevant
    assert a.shape == (10, 3) and torch.allclose(a.sum(1), torch.ones(10))


def test_predict_proba_on_a_dataset_and_evaluate() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    x = torch.randn(7, 4)
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0])
    ds = torch.utils.data.TensorDataset(x, y)
    assert torch.allclose(predict_proba(model, ds, batch_size=3), predict_proba(model, x))
    m = evaluate(model, x, y)
    assert m == classification_metrics(predict_proba(model, x), y)
