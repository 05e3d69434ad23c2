"""The HTML report renders in headless Chromium with every section and no console errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from sklearn.metrics import confusion_matrix
from typer.testing import CliRunner

from warmstart.cli.main import app
from warmstart.report import SECTIONS, write_report
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import get_task

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_record(pretrained_source) -> dict:
    task = get_task("digits").few_shot(3, seed=0)
    strat = get_strategy("finetune", epochs=3, min_steps=6, progress=False).fit(task, Source(path=pretrained_source))
    pred = strat.predict(task.x_test)
    cm = confusion_matrix(task.y_test.numpy(), pred.numpy(), labels=list(range(10))).tolist()
    trials = [{"number": i, "strategy": s, "value": v, "elapsed": 2.0 * (i + 1), "state": "COMPLETE"}
              for i, (s, v) in enumerate([("scratch", 0.5), ("finetune", 0.7), ("finetune", 0.65)])]
    return {
        "title": "digits <auto>", "task": "digits", "budget": "3 trials", "seed": 0, "shots": 3,
        "command": "warmstart auto --task digits --budget 3", "notes": ["a note with <html> & co"],
        "sources": [{"source": "mnist5k", "logme": -0.5, "leep": -1.2}, {"source": "digits-a", "logme": -0.9,
                                                                          "leep": None}],
        "strategies": [{"strategy": "finetune", "best": 0.7, "trials": 2}, {"strategy": "scratch", "best": 0.5,
                                                                             "trials": 1}],
        "trials": trials,
        "winner": {"strategy": "finetune", "test": strat.evaluate(task), "history": strat.history_.epochs,
                   "confusion": cm, "classes": task.classes},
        "pareto": {"x": "latency_ms", "y": "accuracy", "points": [
            {"latency_ms": 1.0, "accuracy": 0.6, "pareto": True}, {"latency_ms": 2.0, "accuracy": 0.7, "pareto": True},
            {"latency_ms": 2.5, "accuracy": 0.65, "pareto": False}]},
    }


def test_report_is_self_contained(run_record, tmp_path) -> None:
    path = write_report(run_record, tmp_path / "r.html")
    text = path.read_text()
    for s in SECTIONS:
        assert f'id="{s}"' in text
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "&lt;html&gt;" in text  # user text is escaped


def test_report_cli_from_run_folder_and_bad_input(run_record, tmp_path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(run_record))
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report.html").exists()
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and res.stderr.startswith("error:")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(run_record, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    path = write_report(run_record, tmp_path / "r.html")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        for s in SECTIONS:
            assert page.locator(f"section#{s} h2").is_visible()
        # every embedded image decoded to a real picture
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        browser.close()
    assert widths and all(w > 50 for w in widths)
    assert errors == []
    assert torch.isfinite(torch.tensor(run_record["winner"]["test"]["accuracy"]))


def test_an_auto_run_chosen_by_the_sources_held_out_labels_shows_its_fits() -> None:
    from warmstart.report.html import render

    run = {"prior": {"describe": "prior: 3 tasks", "picks": []}, "selection": {"by": "source", "text": "by source"},
           "time": {"search": 1.0, "source validation": 12.5, "total": 14.0},
           "winner": {"strategy": "l2sp", "test": {"accuracy": 0.9}},
           "source_validation": {"held_out": 86, "chosen": 1, "test": {"shifted": False}, "fits": [
               {"strategy": "finetune", "length": "trial", "source_accuracy": 0.95, "source_nll": 0.2, "seconds": 0.1},
               {"strategy": "l2sp", "length": "full", "source_accuracy": 0.98, "source_nll": 0.1, "seconds": 3.2},
               {"strategy": "lora", "length": "full", "source_accuracy": 0.9, "source_nll": 0.3, "seconds": 1.0}],
               "soup": {"fits": [1, 0], "source_accuracy": 0.9767, "source_nll": 0.09}}}
    page = render(run)
    assert "86 held-out labelled examples" in page and "12.5 s" in page
    assert page.count("<td>yes</td>") == 3 and "0.98" in page  # two fits in the soup, and the soup
    assert "weight average of fits 1, 0" in page and "0.9767" in page and "0.0900" in page
    assert "no trial ran: by source" in page
    run["source_validation"]["ensemble"] = run["source_validation"].pop("soup")  # since auto's revision 41
    page = render(run)
    assert page.count("<td>yes</td>") == 3 and "probability average of fits 1, 0" in page and "0.9767" in page
