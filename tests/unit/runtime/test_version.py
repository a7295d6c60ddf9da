"""`barque version` and `barque --version` print the installed version, as barca's do.

Real: the `barque` CLI in a child process; the version is the one pyproject.toml declares.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from .clirun import barque

ROOT = Path(__file__).resolve().parents[3]


def declared_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


@pytest.mark.parametrize("spelling", [["version"], ["--version"]], ids=["command", "flag"])
def test_both_spellings_print_the_declared_version(spelling: list[str], tmp_path: Path):
    result = barque(*spelling, cwd=tmp_path)
    assert result.code == 0
    assert result.stdout == f"barque {declared_version()}\n"
