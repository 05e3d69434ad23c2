"""A --quick run never writes over the committed full results in benchmarks/results/."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import (
    _report,
    auto,
    averaging_probe,
    domain_adaptation,
    ensemble_probe,
    fewshot,
    fewshot_episodes,
    horizon_probe,
    length_gain,
    longer_probe,
    memory_format,
    meta_dataset,
    model_zoo,
    nas,
    prior_quality,
    reliability,
    tabular_ensemble_probe,
    throughput,
    tllib_step,
    trial_choice,
)
from benchmarks.hpo_transfer import simulate

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
MAINS = {"auto": auto.main, "domain_adaptation": domain_adaptation.main, "fewshot": fewshot.main,
         "fewshot_episodes": fewshot_episodes.main, "nas": nas.main, "reliability": reliability.main,
         "throughput": throughput.main, "hpo_transfer": simulate.main, "meta_dataset": meta_dataset.main,
         "model_zoo": model_zoo.main, "prior_quality": prior_quality.main, "tllib_step": tllib_step.main,
         "length_gain": length_gain.main, "ensemble_probe": ensemble_probe.main,
         "horizon_probe": horizon_probe.main, "trial_choice": trial_choice.main,
         "averaging_probe": averaging_probe.main, "longer_probe": longer_probe.main,
         "memory_format": memory_format.main, "tabular_ensemble_probe": tabular_ensemble_probe.main}


#: git-ignored folders under benchmarks/results/: quick runs' outputs, and full runs' working folders (caches,
#: checkpoints, studies), which a benchmark running in the background rewrites at any time
IGNORED = (_report.QUICK, "work")


def committed() -> dict[str, str]:
    """sha256 of every file under benchmarks/results/ outside the git-ignored quick/ and work/ folders."""
    return {str(p.relative_to(RESULTS)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(RESULTS.rglob("*"))
            if p.is_file() and not set(IGNORED) & set(p.relative_to(RESULTS).parts)}


def test_every_benchmark_has_its_results_folder() -> None:
    assert sorted(MAINS) == sorted(p.name for p in RESULTS.iterdir() if p.is_dir())



@pytest.mark.parametrize("name", sorted(MAINS))
def test_quick_refuses_the_committed_results_folder(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = committed()
    with pytest.raises(SystemExit) as exc:  # refused while parsing arguments, before any work
        MAINS[name](["--quick", "--out", str(RESULTS / name)])
    assert exc.value.code == 2 and "committed results" in capsys.readouterr().err
    assert committed() == before


def test_output_folder_defaults() -> None:
    assert _report.output_folder("nas", False, None) == RESULTS / "nas"
    assert _report.output_folder("nas", True, None) == RESULTS / "nas" / "quick"
    assert _report.output_folder("nas", True, Path("/tmp/x")) == Path("/tmp/x")
    assert _report.output_folder("nas", False, RESULTS / "nas") == RESULTS / "nas"  # a full run may
    with pytest.raises(ValueError, match="committed"):
        _report.output_folder("nas", True, RESULTS)


def test_quick_runs_without_out_leave_committed_results_untouched() -> None:
    """The issue's case: ``python -m benchmarks.reliability --quick`` replaced the 20-round table."""
    before = committed()
    quick = RESULTS / "reliability" / "quick"
    res = subprocess.run([sys.executable, "-m", "benchmarks.reliability", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (quick / "summary.csv").read_text().splitlines()[1].startswith("2,")  # the 2-round quick table
    assert simulate.main(["--quick"]) == 0
    assert (RESULTS / "hpo_transfer" / "quick" / "summary.csv").is_file()
    assert committed() == before  # nothing committed was modified, added or removed
    if shutil.which("git") and (ROOT / ".git").exists():
        for path in (quick / "README.md", RESULTS / "hpo_transfer" / "quick" / "summary.csv"):
            assert subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT).returncode == 0, path
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "benchmarks/results"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
        assert "quick/" not in status, status
