"""The training loop: seeding, early stopping, best-epoch restore, schedules, divergence, callbacks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from warmstart.engine import (
    Callback,
    LambdaCallback,
    StepInfo,
    StopTraining,
    TrainConfig,
    Trainer,
    evaluate,
    fit,
    seed_everything,
)
from warmstart.errors import TrainingDivergedError


def blobs(n: int = 96, d: int = 6, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Separable Gaussian blobs: ``n`` rows, ``d`` features, ``k`` classes."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    centers = 3 * torch.randn(k, d, generator=g)
    return centers[y] + torch.randn(n, d, generator=g), y


def mlp(d: int = 6, k: int = 3, seed: int = 0) -> nn.Module:
    """A small MLP with dropout (so the global RNG matters during training)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, k))


@pytest.fixture()
def data() -> tuple[torch.Tensor, torch.Tensor]:
    """96 rows of 3 separable blobs."""
    return blobs()


def cfg(**kw: object) -> TrainConfig:
    base: dict[str, object] = {"epochs": 3, "batch_size": 16, "lr": 1e-2, "device": "cpu", "progress": False}
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def run(seed: int, data: tuple[torch.Tensor, torch.Tensor]) -> tuple[list[float], dict[str, float]]:
    x, y = data
    seed_everything(seed)
    model = mlp(seed=seed)
    hist = fit(model, x, y, cfg(seed=seed), val=(x[:30], y[:30]))
    return hist.curve("train_loss"), evaluate(model, x, y)


def test_same_seed_gives_identical_metrics_and_other_seed_differs(data) -> None:
    loss_a, metrics_a = run(0, data)
    loss_b, metrics_b = run(0, data)
    loss_c, _ = run(1, data)
    assert loss_a == loss_b
    assert metrics_a == metrics_b
    assert loss_a != loss_c


def test_batching_seed_alone_changes_the_run(data) -> None:
    """Same initial weights, different config seed: the batch order (and dropout) differ."""
    x, y = data
    losses = []
    for seed in (0, 1):
        torch.manual_seed(0)
        model = mlp(seed=0)
        losses.append(fit(model, x, y, cfg(seed=seed)).curve("train_loss"))
    assert losses[0] != losses[1]


def test_training_learns_separable_blobs(data) -> None:
    x, y = data
    model = mlp()
    hist = fit(model, x, y, cfg(epochs=10))
    assert hist.curve("train_loss")[-1] < hist.curve("train_loss")[0]
    assert evaluate(model, x, y)["accuracy"] > 0.9
    assert hist.steps == 10 * 6  # 96 rows / 16 per batch


def test_early_stopping_stops_when_monitor_stalls(data) -> None:
    x, y = data
    hist = fit(mlp(), x, y, cfg(epochs=20, patience=2), val=lambda m: {"val_accuracy": 0.5})
    # epoch 1 sets the best; epochs 2 and 3 do not improve -> stop after epoch 3
    assert len(hist.epochs) == 3
    assert hist.stopped_early is not None and "did not improve for 2 epochs" in hist.stopped_early
    assert hist.best_epoch == 1


def test_best_epoch_weights_are_restored(data) -> None:
    x, y = data
    scores = iter([0.2, 0.9, 0.4, 0.3])
    snapshots: list[dict[str, torch.Tensor]] = []
    model = mlp()
    snap = LambdaCallback(lambda e, logs, m: snapshots.append({k: v.clone() for k, v in m.state_dict().items()}))
    hist = fit(model, x, y, cfg(epochs=4), val=lambda m: {"val_accuracy": next(scores)}, callbacks=[snap])
    assert hist.best_epoch == 2 and hist.best_value == 0.9
    final = model.state_dict()
    assert all(torch.equal(final[k], snapshots[1][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[3][k]) for k in final)


def test_monitor_in_min_mode_restores_lowest(data) -> None:
    x, y = data
    scores = iter([0.5, 0.4, 0.1, 0.3])
    hist = fit(mlp(), x, y, cfg(epochs=4), val=lambda m: {"risk": next(scores)}, monitor="risk", mode="min")
    assert hist.best_epoch == 3 and hist.best_value == pytest.approx(0.1)


def test_without_validation_the_last_weights_are_kept(data) -> None:
    x, y = data
    model = mlp()
    last: dict[str, torch.Tensor] = {}
    snap = LambdaCallback(lambda e, logs, m: last.update({k: v.clone() for k, v in m.state_dict().items()}))
    hist = fit(model, x, y, cfg(epochs=2), callbacks=[snap])
    assert hist.best_epoch is None
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())


def test_min_steps_adds_epochs_for_tiny_data() -> None:
    x, y = blobs(n=10)
    hist = fit(mlp(), x, y, cfg(epochs=1, batch_size=5, min_steps=7))
    # 2 steps per epoch; 7 steps need 4 epochs
    assert len(hist.epochs) == 4
    assert hist.steps == 8


def test_no_batch_of_one_is_formed() -> None:
    """17 rows in batches of 16 would leave a batch of 1 (batch norm fails on it): it is dropped."""
    x, y = blobs(n=17)
    sizes: list[int] = []

    def step(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, info: StepInfo) -> torch.Tensor:
        sizes.append(len(xb))
        return F.cross_entropy(model(xb), yb)

    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    hist = fit(model, x, y, cfg(epochs=1), step_fn=step)
    assert sizes == [16] and hist.steps == 1


def test_param_group_learning_rates_follow_warmup_and_cosine(data) -> None:
    x, y = data
    model = mlp()
    first, rest = list(model[0].parameters()), list(model[3].parameters())
    seen: list[tuple[float, float]] = []
    holder: dict[str, Trainer] = {}

    def step(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, info: StepInfo) -> torch.Tensor:
        groups = holder["t"].optimizer.param_groups
        seen.append((groups[0]["lr"], groups[1]["lr"]))
        return F.cross_entropy(m(xb), yb)

    config = cfg(epochs=2, warmup_steps=3, lr=0.5)
    trainer = Trainer(model, config, step_fn=step,
                      param_groups=[{"params": first, "lr": 1e-2}, {"params": rest, "lr": 1e-3}])
    holder["t"] = trainer
    trainer.fit(x, y)
    total, warm = 12, 3
    assert len(seen) == total
    for s, (lr0, lr1) in enumerate(seen):
        mult = (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm)))
        assert lr0 == pytest.approx(1e-2 * mult, rel=1e-9)
        assert lr1 == pytest.approx(1e-3 * mult, rel=1e-9)
    # the schedule ends at zero after the last step
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_constant_schedule_and_sgd_keep_lr(data) -> None:
    x, y = data
    trainer = Trainer(mlp(), cfg(epochs=1, schedule="constant", optimizer="sgd", lr=0.05))
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    hist = trainer.fit(x, y)
    assert hist.epochs[-1]["lr"] == pytest.approx(0.05)


def test_infinite_loss_raises_training_diverged(data) -> None:
    x, y = data

    def step(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, info: StepInfo) -> torch.Tensor:
        return F.cross_entropy(m(xb), yb) * float("inf")

    with pytest.raises(TrainingDivergedError, match=r"training diverged: loss is (inf|nan) at epoch 1, step 1; "
                                                   r"lower the learning rate"):
        fit(mlp(), x, y, cfg(), step_fn=step)


def test_nan_loss_midway_through_an_epoch_is_caught(data) -> None:
    """A NaN at step 3 (between the every-10-steps checks) is caught by the epoch's mean loss."""
    x, y = data

    def step(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, info: StepInfo) -> torch.Tensor:
        loss = F.cross_entropy(m(xb), yb)
        return loss * float("nan") if info.step == 3 else loss

    with pytest.raises(TrainingDivergedError, match=r"training diverged.*epoch 1.*lower the learning rate"):
        fit(mlp(), x, y, cfg(), step_fn=step)


def test_huge_learning_rate_diverges_with_clear_message(data) -> None:
    x, y = data
    with pytest.raises(TrainingDivergedError, match="lower the learning rate"):
        fit(mlp(), x * 1e3, y, cfg(epochs=5, lr=1e12, optimizer="sgd"))


def test_callback_stop_training_ends_run_and_calls_train_end(data) -> None:
    x, y = data
    events: list[str] = []

    class Stopper(Callback):
        def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
            events.append(f"begin {total_epochs}")

        def on_epoch_end(self, epoch: int, logs: dict, model: nn.Module) -> None:
            events.append(f"epoch {epoch}")
            if epoch == 2:
                raise StopTraining("enough")

        def on_train_end(self, model: nn.Module, logs: dict) -> None:
            events.append(f"end {logs['epoch']}")

    hist = fit(mlp(), x, y, cfg(epochs=10), callbacks=[Stopper()])
    assert events == ["begin 10", "epoch 1", "epoch 2", "end 2"]
    assert hist.stopped_early == "enough"
    assert len(hist.epochs) == 2 and hist.steps == 12


def test_other_callback_exceptions_propagate(data) -> None:
    """A pruning callback's exception (e.g. optuna.TrialPruned) reaches the caller."""
    x, y = data

    class Pruned(Exception):
        pass

    def prune(epoch: int, logs: dict, model: nn.Module) -> None:
        raise Pruned(f"pruned at {epoch}")

    with pytest.raises(Pruned, match="pruned at 1"):
        fit(mlp(), x, y, cfg(), callbacks=[LambdaCallback(prune)])


def test_epoch_logs_have_loss_lr_time_and_val_metrics(data) -> None:
    x, y = data
    hist = fit(mlp(), x, y, cfg(epochs=2), val=(x, y))
    for logs in hist.epochs:
        assert {"epoch", "train_loss", "lr", "seconds", "val_accuracy", "val_loss", "val_macro_f1"} <= set(logs)
    assert hist.curve("epoch") == [1, 2]


def test_eval_every_skips_epochs_but_always_evaluates_the_last(data) -> None:
    x, y = data
    calls: list[int] = []
    hist = fit(mlp(), x, y, cfg(epochs=5), val=lambda m: calls.append(1) or {"val_accuracy": 0.5}, eval_every=2)
    assert [e["epoch"] for e in hist.epochs if "val_accuracy" in e] == [2, 4, 5]
    assert len(calls) == 3


def test_streaming_dataset_input(data) -> None:
    """A torch Dataset (the streaming path for large image folders) trains through a DataLoader."""
    x, y = data
    ds = torch.utils.data.TensorDataset(x, y)
    model = mlp()
    hist = fit(model, ds, None, cfg(epochs=6, seed=3), val=(ds, y))
    assert hist.steps == 6 * 6
    assert hist.epochs[-1]["val_accuracy"] > 0.9
    # seeded: the same seed gives the same run
    again = fit(mlp(), ds, None, cfg(epochs=6, seed=3), val=(ds, y))
    assert hist.curve("train_loss") == again.curve("train_loss")


def test_augmentation_applies_only_to_images_and_is_seeded() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 8, 8, generator=g)
    y = torch.arange(32) % 2
    seen: list[torch.Tensor] = []

    def step(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, info: StepInfo) -> torch.Tensor:
        seen.append(xb.clone())
        return F.cross_entropy(m(xb), yb)

    def net() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 2))

    fit(net(), x, y, cfg(epochs=1, batch_size=32, augment="light"), step_fn=step)
    fit(net(), x, y, cfg(epochs=1, batch_size=32, augment="light"), step_fn=step)
    fit(net(), x, y, cfg(epochs=1, batch_size=32, augment="none"), step_fn=step)
    assert torch.equal(seen[0], seen[1])
    assert not torch.equal(seen[0], seen[2])
    assert sorted(seen[2].flatten().tolist()) == sorted(x.flatten().tolist())  # a permutation of the rows


def test_text_inputs_are_batched_as_lists() -> None:
    texts = [f"item {i}" for i in range(20)]
    y = torch.arange(20) % 2

    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(1, 2)

        def forward(self, xs: list[str]) -> torch.Tensor:
            assert isinstance(xs, list) and all(isinstance(s, str) for s in xs)
            feats = torch.tensor([[float(s.split()[1]) / 20] for s in xs])
            return self.lin(feats)

    hist = fit(Bag(), texts, y, cfg(epochs=2, batch_size=8))
    assert hist.steps == 6


def test_grad_clip_bounds_the_update(data) -> None:
    x, y = data
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    before = model.weight.detach().clone()
    fit(model, x * 100, y, cfg(epochs=1, batch_size=96, lr=1.0, optimizer="sgd", momentum=0.0,
                               weight_decay=0.0, grad_clip=1e-3, schedule="constant"))
    # one SGD step (nesterov without momentum = plain) of a gradient clipped to norm 1e-3
    assert float((model.weight.detach() - before).norm()) <= 1e-3 + 1e-7


def test_state_dict_resume_continues_exactly(data, tmp_path) -> None:
    """Interrupt after epoch 1, save the state to disk, resume in a new Trainer: same weights,
    same history and the same best epoch (restored from the saved state) as an uninterrupted run."""
    from warmstart.pretraining._resume import load_state, save_state

    x, y = data

    def scores() -> object:
        it = iter([0.9, 0.1, 0.2])  # the best epoch is the one before the interruption
        return lambda m: {"val_accuracy": next(it)}

    config = cfg(epochs=3, augment="none", patience=5)
    seed_everything(0)
    full_model = mlp()
    full = Trainer(full_model, config)
    full_hist = full.fit(x, y, val=scores())

    class Interrupt(Callback):
        def __init__(self, trainer: Trainer) -> None:
            self.trainer = trainer

        def on_epoch_end(self, epoch: int, logs: dict, model: nn.Module) -> None:
            save_state(tmp_path, {"model": model.state_dict(), "trainer": self.trainer.state_dict()})
            raise KeyboardInterrupt

    seed_everything(0)
    model = mlp()
    first = Trainer(model, config)
    first.callbacks.append(Interrupt(first))
    val = scores()
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y, val=val)
    torch.manual_seed(123)  # the resumed process starts with another global RNG state
    state = load_state(tmp_path)
    model2 = mlp(seed=99)
    model2.load_state_dict(state["model"])
    second = Trainer(model2, config)
    second.load_state_dict(state["trainer"])
    hist = second.fit(x, y, val=val)
    assert hist.best_epoch == full_hist.best_epoch == 1
    assert [e["train_loss"] for e in hist.epochs] == full_hist.curve("train_loss")
    assert hist.steps == full_hist.steps
    full_state = full_model.state_dict()
    assert all(torch.equal(v, full_state[k]) for k, v in model2.state_dict().items())
    assert second.callbacks[0].state_dict() == full.callbacks[0].state_dict()  # early-stopping counters
