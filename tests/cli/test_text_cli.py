"""Text CSV targets through the CLI: --text-column on transfer, tune and auto, with the packaged MiniLM encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tasks._text_data import write_topic_csv

pytest.importorskip("transformers")
hf_text = pytest.importorskip("warmstart.backbones.hf_text")


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 48-sentence topic CSV with its text in a column ``sentence`` (not the default ``text``)."""
    return write_topic_csv(tmp_path_factory.mktemp("text") / "topics.csv", text_column="sentence")


@pytest.fixture(scope="module")
def minilm() -> str:
    return f"hf:{hf_text.minilm_path()}"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path_factory.getbasetemp() / "text-cli-cache"))


def test_transfer_reads_the_text_column_given(run_cli, sentences, minilm) -> None:
    run = run_cli("transfer", "--task", str(sentences), "--text-column", "sentence", "--source", minilm,
                  "--strategy", "linear_probe", "--shots", "4", "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["task"] == "topics"
    assert res["test"]["accuracy"] >= 0.7  # 3 topics: chance is 1/3


def test_a_csv_without_the_text_column(run_cli, user_error, sentences, minilm) -> None:
    # one line naming the missing column and the columns the file has, exit code 2, from every command
    line = user_error(run_cli("transfer", "--task", str(sentences), "--text-column", "body", "--source", minilm,
                              "-s", "linear_probe"), "no text column 'body'")
    assert "id, sentence, topic" in line and "--text-column" in line
    for cmd in (("tune", "--budget", "1"), ("auto", "--budget", "1")):
        user_error(run_cli(*cmd, "--task", str(sentences), "--text-column", "body", "--source", minilm),
                   "no text column 'body'", "id, sentence, topic")


def test_text_column_goes_with_a_csv_file(run_cli, user_error, tiny_task, minilm) -> None:
    user_error(run_cli("transfer", "--task", tiny_task, "--text-column", "sentence", "--source", minilm),
               "--text-column goes with a CSV task file")


def test_tune_and_auto_take_the_text_column(run_cli, sentences, minilm, tmp_path) -> None:
    run = run_cli("tune", "--task", str(sentences), "--text-column", "sentence", "--source", minilm,
                  "--strategy", "linear_probe", "--shots", "4", "--budget", "2", "--warm-start", "none",
                  "--storage", str(tmp_path / "kb.db"), "--json")
    assert run.code == 0, run.stderr
    assert run.json()["trials"]["complete"] == 2
    run = run_cli("auto", "--task", str(sentences), "--text-column", "sentence", "--source", minilm,
                  "--strategy", "linear_probe", "--shots", "4", "--budget", "2", "--storage",
                  str(tmp_path / "kb.db"), "-o", str(tmp_path / "run"), "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["winner"]["strategy"] == "linear_probe" and res["winner"]["test"]["accuracy"] >= 0.5
