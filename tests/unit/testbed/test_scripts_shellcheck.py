"""The project's shell scripts pass shellcheck.

Real: the shellcheck binary. Outside CI a missing shellcheck skips; in CI (CI=true) it fails,
so the check cannot silently stop running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = sorted([*REPO.glob("testbed/*.sh"), *REPO.glob("scripts/*.sh")])


def shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("shellcheck is not installed but CI is set: apt-get install -y shellcheck")
    pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")


def test_there_are_scripts_to_check() -> None:
    assert REPO / "testbed" / "build.sh" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_script_passes_shellcheck(script: Path) -> None:
    result = subprocess.run([shellcheck(), "--external-sources", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
