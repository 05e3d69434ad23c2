"""The CI rule of tests/conftest.py: under CI=true a skip fails, at collection time too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SKIPPED_MODULE = 'import pytest\npytest.importorskip("warmstart_no_such_module")\n\n\ndef test_x():\n    pass\n'
SKIPPED_TEST = 'import pytest\n\n\ndef test_y():\n    pytest.skip("no server")\n'


@pytest.mark.parametrize(("ci", "expect_rc"), [("true", 1), ("", 0)])
def test_module_level_importorskip_fails_under_ci(tmp_path: Path, ci: str, expect_rc: int) -> None:
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_skipped_module.py").write_text(SKIPPED_MODULE)
    (tmp_path / "test_skipped_test.py").write_text(SKIPPED_TEST)
    env = {**os.environ, "CI": ci}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
           str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == expect_rc, out
    if ci:
        assert "skipped at collection under CI" in out and "skipped under CI" in out
        assert "1 failed" in out and "1 error" in out
    else:
        assert "2 skipped" in out
