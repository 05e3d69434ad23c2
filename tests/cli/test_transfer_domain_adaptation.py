"""``warmstart transfer`` with domain-adaptation strategies: --source-task, --shots 0, --select-by, errors."""

from __future__ import annotations

from warmstart.tasks import get_task, register_task

FAST = ["--epochs", "1", "--iters-per-epoch", "2", "--batch-size", "8", "--score-samples", "30",
        "--device", "cpu"]


def _small_digits(name: str, classes: list[int] | None = None) -> str:
    task = get_task("digits")
    if classes is not None:
        task = task.subset_classes(classes)
    small = task.replace(name=name, x_test=task.x_test[:60], y_test=task.y_test[:60],
                         x_train=task.x_train[:300], y_train=task.y_train[:300])
    register_task(name, lambda: small)
    return name


def test_dann_from_source_task_with_zero_shots(run_cli, tiny_task: str) -> None:  # type: ignore[no-untyped-def]
    target = _small_digits("digits-da-small")
    # a source given only as a task (a tiny mnist5k subset, to stay fast) is pretrained first, announced
    run = run_cli("transfer", "--strategy", "dann", "--source-task", tiny_task, "--task", target, "--shots", "0",
              "--select-by", "infomax", "--json", *FAST)
    assert run.code == 0, (run.stderr, run.result.exception)
    assert f"pretraining a source model on {tiny_task} (10 epochs; cached for next time)..." in run.stderr
    out = run.json()
    assert out["strategy"] == "dann" and out["shots"] == 0
    assert out["info"]["select_by"] == "infomax" and out["info"]["target_labels_used"] == 0
    assert out["info"]["source_task"] == tiny_task
    assert out["info"]["init"] == f"source model pretrained on {tiny_task} (10 epochs, cached)"
    assert 0.0 <= out["test"]["accuracy"] <= 1.0


def test_bad_pairs_are_one_line_errors(run_cli, user_error) -> None:  # type: ignore[no-untyped-def]
    target = _small_digits("digits-da-small")
    no_pool = run_cli("transfer", "--strategy", "cdan", "--source-task", "mnist5k-a", "--task", target, *FAST)
    user_error(no_pool, "unlabelled target pool", target)
    other = _small_digits("digits-012", [0, 1, 2])
    mismatch = run_cli("transfer", "--strategy", "mmd", "--source-task", "mnist5k-a", "--task", other,
                   "--shots", "0", *FAST)
    user_error(mismatch, "same classes", "only in source", "'9'")
    bad_select = run_cli("transfer", "--strategy", "coral", "--source-task", "mnist5k-a", "--task", target,
                     "--shots", "0", "--select-by", "oracle", *FAST)
    user_error(bad_select, "select_by", "dev")
