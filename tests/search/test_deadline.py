"""The trial deadline's alarm waits for an import in progress, then stops the trial."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import pytest

from warmstart.errors import TrialTimeoutError
from warmstart.search.deadline import trial_deadline


def test_an_import_under_way_is_never_cut_and_the_trial_still_stops(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slow_pkg").mkdir()
    # a package whose import takes longer than the deadline and sets its last attribute at the very end
    (tmp_path / "slow_pkg" / "__init__.py").write_text("import time\ntime.sleep(0.6)\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_pkg", raising=False)
    t0 = time.monotonic()
    with pytest.raises(TrialTimeoutError, match=r"trial-timeout of 0\.2 s"), trial_deadline(0.2):
        importlib.import_module("slow_pkg")
        time.sleep(5)  # the trial goes on after the import: the deferred alarm stops it here
    assert time.monotonic() - t0 < 3
    assert sys.modules["slow_pkg"].DONE  # the import finished whole: nothing half-initialised is left behind
    del sys.modules["slow_pkg"]


def test_plain_python_code_is_stopped_at_the_deadline() -> None:
    t0 = time.monotonic()
    with pytest.raises(TrialTimeoutError), trial_deadline(0.2):
        time.sleep(5)
    assert time.monotonic() - t0 < 2
