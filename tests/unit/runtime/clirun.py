"""Shared helpers for the local runner and CLI tests: write a tiny project, run the real CLI.

Every test runs ``python -m barque_cli.main`` in a child process, as a user would run
``barque``, with stdout and stderr captured (so neither is a terminal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

BARQUE = [sys.executable, "-m", "barque_cli.main"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """The one JSON document the command printed on stdout."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line on stdout, got:\n{self.stdout}\nstderr:\n{self.stderr}"
        return json.loads(lines[0])


def write(folder: Path, name: str, source: str) -> Path:
    """Write ``source`` (dedented) to ``folder/name``, creating parent folders."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def barque(*args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60) -> Result:
    """Run ``barque ARGS`` in ``cwd`` and return its exit code and output."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([*BARQUE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_ok(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``barque run ARGS``, which must succeed; its JSON summary."""
    result = barque("run", *args, cwd=cwd, env=env)
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    summary: dict[str, Any] = result.json
    assert summary["status"] == "succeeded", summary
    return summary


def step_records(store: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """The step records a run left in a local-folder store, by step id."""
    from barque.records import read_step_records
    from barque.store import open_store

    return read_step_records(open_store(str(store)), run_id)


# A module-level helper pipelines paste in: each step appends its name to ran.txt in the
# working folder, so a test sees exactly which functions were called.
TRACE = '''
def trace(name):
    with open("ran.txt", "a") as f:
        f.write(name + "\\n")
'''


def ran(folder: Path) -> list[str]:
    """The names traced since the last call, in call order; clears the trace."""
    path = folder / "ran.txt"
    if not path.exists():
        return []
    names = path.read_text().splitlines()
    path.unlink()
    return names


def pipeline(folder: Path, source: str, name: str = "pipeline.py") -> Path:
    """Write a pipeline file: ``source`` (dedented) followed by the ``trace`` helper."""
    return write(folder, name, textwrap.dedent(source).lstrip() + "\n" + TRACE)


# The two-step pipeline many runner tests start from: numbers() returns [1, 2, 3] and total()
# their sum, 6; each traces its call (see ``pipeline``).
NUMBERS_TOTAL = """
from barque import asset

@asset()
def numbers() -> list:
    trace("numbers")
    return [1, 2, 3]

@asset(inputs={"nums": numbers})
def total(nums: list) -> int:
    trace("total")
    return sum(nums)
"""
