"""Model-zoo sources through the CLI: --source timm:NAME --weights FILE, --image-size, import-weights, bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import optuna
import pytest
import torch
from safetensors.torch import save_file

timm = pytest.importorskip("timm")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> str:
    """timm's own layout of ``test_resnet`` (a tiny ResNet), random weights written by the test."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "test_resnet.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_resnet").state_dict().items()}, str(path))
    return str(path)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path / "cache"))


def test_import_weights_command(tmp_path, run_cli, tiny_weights) -> None:
    out = tmp_path / "src"
    run = run_cli("import-weights", tiny_weights, "--model", "timm:test_resnet", "-o", str(out), "--image-size", "48")
    assert run.code == 0, run.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["extra"]["imported"]["record"]["input_size"] == [48, 48]
    assert meta["extra"]["imported"]["layout"] == "timm"
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert run_cli("import-weights", tiny_weights, "--model", "timm:test_resnet", "-o", str(out),
                   "--image-size", "48").code == 0  # the same import again: nothing rewritten
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


def test_import_weights_refuses_another_import_without_force(tmp_path, run_cli, user_error, tiny_weights) -> None:
    out = tmp_path / "src"
    assert run_cli("import-weights", tiny_weights, "--model", "timm:test_resnet", "-o", str(out)).code == 0
    user_error(run_cli("import-weights", tiny_weights, "--model", "timm:test_resnet", "-o", str(out),
                       "--image-size", "48"), "already exists")
    run = run_cli("import-weights", tiny_weights, "--model", "timm:test_resnet", "-o", str(out),
                  "--image-size", "48", "--force")
    assert run.code == 0, run.stderr
    assert json.loads((out / "meta.json").read_text())["extra"]["imported"]["record"]["input_size"] == [48, 48]


def test_transfer_from_timm_weights_file(run_cli, tiny_task, tiny_weights) -> None:
    run = run_cli("transfer", "--task", tiny_task, "--source", "timm:test_resnet", "--weights", tiny_weights,
                  "--image-size", "32", "--strategy", "linear_probe", "--epochs", "1", "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert 0.0 <= res["test"]["accuracy"] <= 1.0
    adapted = " ".join(res["info"].get("adapted", []))
    assert "32x32" in adapted  # the target was resized to the --image-size the source works at


def test_unknown_timm_name_lists_close_matches(run_cli, user_error, tiny_task, tiny_weights) -> None:
    line = user_error(run_cli("transfer", "--task", tiny_task, "--source", "timm:test_resnett",
                              "--weights", tiny_weights))
    assert "test_resnet" in line


def test_weights_that_fit_no_layout(tmp_path, run_cli, user_error, tiny_task) -> None:
    bad = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(3, 3)}, str(bad))
    user_error(run_cli("transfer", "--task", tiny_task, "--source", "timm:test_resnet", "--weights", str(bad)),
               "'x'", "[3, 3]")
    user_error(run_cli("import-weights", str(bad), "--model", "timm:test_resnet", "-o", str(tmp_path / "o")), "'x'")
    assert not (tmp_path / "o").exists()


def test_pickle_that_is_not_a_state_dict_is_refused(tmp_path, run_cli, user_error, tiny_task) -> None:
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "evil.pth"
    bad.write_bytes(pickle.dumps({"w": Boom()}))
    user_error(run_cli("transfer", "--task", tiny_task, "--source", "timm:test_resnet", "--weights", str(bad)))
    assert not marker.exists()  # refused, never executed


def test_weights_without_a_timm_source(tmp_path, run_cli, user_error, tiny_task, tiny_weights) -> None:
    user_error(run_cli("transfer", "--task", tiny_task, "--weights", tiny_weights), "--weights FILE")
    user_error(run_cli("tune", "--task", tiny_task, "--weights", tiny_weights), "--weights FILE")
    user_error(run_cli("auto", "--task", tiny_task, "--weights", tiny_weights), "--weights FILE")
    user_error(run_cli("transfer", "--task", tiny_task, "--source", str(tmp_path), "--image-size", "64"),
               "--image-size")
    user_error(run_cli("transfer", "--task", tiny_task, "--source", "timm:test_resnet", "--weights", tiny_weights,
                       "--image-size", "4"), "at least 16")


def _spec(weights: str) -> str:
    return f"timm:test_resnet with weights {weights} at 32x32 px"


def test_recipe_and_results_name_the_source_as_given(run_cli, tiny_task, tiny_weights, tmp_path) -> None:
    zoo = ("--source", "timm:test_resnet", "--weights", tiny_weights, "--image-size", "32")
    run = run_cli("transfer", "--task", tiny_task, *zoo, "--strategy", "linear_probe", "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["recipe"]["source_spec"] == _spec(tiny_weights)
    assert Path(res["recipe"]["source"]).parent.name == "zoo"  # loaded from the imported checkpoint
    assert res["info"]["source"] == f"{_spec(tiny_weights)} (checkpoint {res['recipe']['source']})"

    run = run_cli("tune", "--task", tiny_task, *zoo, "--strategy", "linear_probe", "--budget", "1",
                  "--warm-start", "none", "--storage", str(tmp_path / "kb.db"), "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["source"].startswith(_spec(tiny_weights))
    trial = optuna.load_study(study_name=res["study"], storage=res["storage"]).trials[0]
    assert trial.user_attrs["recipe"]["source_spec"] == _spec(tiny_weights)


def test_auto_takes_a_zoo_source(run_cli, tiny_task, tiny_weights, tmp_path) -> None:
    out = tmp_path / "run"
    run = run_cli("auto", "--task", tiny_task, "--source", "timm:test_resnet", "--weights", tiny_weights,
                  "--image-size", "32", "--strategy", "linear_probe", "--budget", "2",
                  "--storage", str(tmp_path / "kb.db"), "-o", str(out), "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert [s["source"] for s in res["sources"]] == [_spec(tiny_weights)]  # not the cache folder it was imported to
    assert res["winner"]["source"] == _spec(tiny_weights) and 0.0 <= res["winner"]["test"]["accuracy"] <= 1.0
    assert res["trials"] and all(t["source"] == _spec(tiny_weights) for t in res["trials"])
    meta = json.loads((out / "model" / "meta.json").read_text())
    assert meta["extra"]["source"] == _spec(tiny_weights)
    assert (out / "report.html").is_file()
