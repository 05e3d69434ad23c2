"""benchmarks/length_gain.py --quick runs end to end, resumes, reruns stale revisions and refuses bad cells."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from benchmarks import length_gain as bench
from benchmarks._revision import current_revision


def _runs(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]


def test_length_gain_quick_resumes_and_reruns_stale(tmp_path: Path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    runs = _runs(tmp_path)
    # each quick strategy twice, trial first, the full run longer; every row of the schema
    assert [(r["strategy"], r["fidelity"]) for r in runs] == [
        (s, f) for s in bench.QUICK_STRATEGIES for f in ("trial", "full")]
    for r in runs:
        assert r["task"] == "wine-b" and r["key"] == "wine-b@5shots" and r["family"] == "wine"
        assert r["shots"] == 5 and r["seed"] == 0 and r["source_task"] == "wine-a" and "error" not in r
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["seconds"] > 0
        assert r["revision"] == current_revision(r["strategy"])
    trial, full = runs[0], runs[1]
    assert full["steps"] > trial["steps"] and full["params"]["min_steps"] > trial["params"]["min_steps"]
    rows = list(csv.DictReader(open(tmp_path / "length_gain.csv")))
    assert len(rows) == 6 and json.loads(rows[1]["params"]) == full["params"]
    gains = [float(r["gain"]) for r in rows if r["fidelity"] == "full"]
    assert len(gains) == 3 and gains[0] == float(rows[1]["test_accuracy"]) - float(rows[0]["test_accuracy"])
    text = (tmp_path / "README.md").read_text()
    assert "### wine-b@5" in text and "| strategy | trial acc | full acc | gain |" in text and "4→12" in text
    assert "Hyperband" in text and "Quick-Tune" in text and "## Checks" in text and "| NO |" not in text
    assert "command: `python -m benchmarks.length_gain --quick" in text

    # started again: every finished run is read back, none is redone
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    assert len(_runs(tmp_path)) == 6

    # a run of an older revision is stale: run again (its line stays, the new one wins); a failed run is not retried
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    stale = {**runs[4], "revision": current_revision("source_only") - 1}
    failed = {**runs[1], "test_accuracy": None, "error": "diverged"}
    (tmp_path / "runs.jsonl").write_text("\n".join([lines[0], json.dumps(failed), *lines[2:4], json.dumps(stale),
                                                    lines[5]]) + "\n")
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 1  # the failed run fails its check
    after = _runs(tmp_path)
    assert len(after) == 7 and (after[-1]["strategy"], after[-1]["fidelity"]) == ("source_only", "trial")
    assert after[-1]["revision"] == current_revision("source_only") and after[-1]["test_accuracy"] is not None
    text = (tmp_path / "README.md").read_text()
    assert "| no failed runs | NO | wine-b@5 seed 0 finetune full: diverged |" in text
    assert len(list(csv.DictReader(open(tmp_path / "length_gain.csv")))) == 6  # the stale line left the table


def test_bad_cell_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    assert bench.main(["--cells", "digits-rotated@5", "nosuch@5", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nosuch@5'" in err[0] and "Traceback" not in err[0]
    assert bench.main(["--cells", "digits-rotated", "--out", str(tmp_path / "o")]) == 2
    assert "NAME@SHOTS" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_lofo_picks_use_only_the_other_families_gains() -> None:
    from benchmarks._length_gain_lofo import lofo_picks, lofo_summary

    def run(task: str, fam: str, s: str, f: str, a: float) -> dict:
        return {"task": task, "family": fam, "shots": 5, "seed": 0, "source_task": "x", "strategy": s,
                "fidelity": f, "test_accuracy": a}

    runs = []
    # fixmatch ranks last at the trial budget and first at full length; four tasks per family, since one
    # strategy's pairs are shrunk toward every strategy's (two pseudo-pairs): one pair would not flip the pick
    for task, fam in [(f"{f.lower()}{i}", f) for f in ("A", "B") for i in range(4)]:
        runs += [run(task, fam, "l2sp", "trial", 0.9), run(task, fam, "l2sp", "full", 0.91),
                 run(task, fam, "fixmatch", "trial", 0.8), run(task, fam, "fixmatch", "full", 0.97)]
    rows = lofo_picks(runs)
    assert [r["by trial"] for r in rows] == ["l2sp 0.9100"] * 8
    assert [r["by trial + gain"] for r in rows] == ["fixmatch 0.9700"] * 8
    only_a = lofo_picks([r for r in runs if r["family"] == "A"])  # no other family: no gains, the trial order
    assert only_a[0]["by trial + gain"] == "l2sp 0.9100" and only_a[0]["gains from"] == "no other family"
    summary = {r["pick"]: r["regret (oracle − pick)"] for r in lofo_summary(rows)}
    assert summary == {"by trial": "0.0600", "by trial + gain": "0.0000", "oracle": "0.0000"}


def test_lofo_picks_count_only_gains_of_the_cells_modality_and_return_the_trial_model_when_a_gain_is_negative():
    """Image gains do not lift a tabular cell's pick; a strategy that loses from its full length on the other
    tabular family is returned at its trial length (as auto keeps that length)."""
    from benchmarks._length_gain_lofo import lofo_picks

    def run(task: str, fam: str, mod: str, s: str, f: str, a: float) -> dict:
        return {"task": task, "family": fam, "modality": mod, "shots": 5, "seed": 0, "source_task": "x",
                "strategy": s, "fidelity": f, "test_accuracy": a}

    runs = []
    for i in range(4):  # images: fixmatch gains 0.17
        runs += [run(f"img{i}", "I", "image", "l2sp", "trial", 0.9), run(f"img{i}", "I", "image", "l2sp", "full", 0.91),
                 run(f"img{i}", "I", "image", "fixmatch", "trial", 0.8),
                 run(f"img{i}", "I", "image", "fixmatch", "full", 0.97)]
    for task, fam in (("t", "T"), ("u", "U")):  # tabular: dann loses 0.04 from its full length
        runs += [run(task, fam, "tabular", "fixmatch", "trial", 0.93),
                 run(task, fam, "tabular", "fixmatch", "full", 0.9),
                 run(task, fam, "tabular", "dann", "trial", 0.98), run(task, fam, "tabular", "dann", "full", 0.94)]
    tab = [r for r in lofo_picks(runs) if r["cell"] == "t@5"]
    assert tab[0]["by trial + gain"] == "dann 0.9800"  # no image gain lifts fixmatch; dann's trial model returned
