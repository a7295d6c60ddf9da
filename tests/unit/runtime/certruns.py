"""Helpers for the run certificate tests: the console entry in a child process, as users run
``barque``, told apart by which path answered (``fastrun_probe.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

PROBE = str(Path(__file__).with_name("fastrun_probe.py"))
MARK = "\nFASTRUN-PROBE "
# What differs between two runs of the same outcome: which run, when, and how long it took.
FRESH = ("run_id", "elapsed_seconds", "started_at")


@dataclass
class Answer:
    code: int
    stdout: str
    stderr: str  # without the probe's line
    path: str  # "fast" (the certificate answered) or "full"
    modules: list[str]

    @property
    def summary(self) -> dict[str, Any]:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line, got:\n{self.stdout}\nstderr:\n{self.stderr}"
        doc: dict[str, Any] = json.loads(lines[0])
        return doc


def console(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Answer:
    """``barque ARGS`` through the console entry, in ``cwd``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("BARQUE_", "BARCA_"))}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, PROBE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)
    err, sep, probe = proc.stderr.rpartition(MARK)
    assert sep, f"the probe line is missing (exit {proc.returncode}):\n{proc.stderr}"
    found = json.loads(probe)
    return Answer(proc.returncode, proc.stdout, err, found["path"], found["modules"])


def without_fresh(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` without what every run has afresh (``FRESH``)."""
    return {k: v for k, v in doc.items() if k not in FRESH}


def certificates(root: Path) -> list[Path]:
    """The run certificates in a project."""
    folder = root / ".barque" / "certs"
    return sorted(p for p in folder.iterdir() if p.suffix == ".cert") if folder.is_dir() else []


def history(root: Path) -> list[dict[str, Any]]:
    """The project's runs, newest first, each with its steps (``barque history RUN``)."""
    from barque_runtime.history import recent_runs, run_detail

    folder = root / ".barque"
    return [run_detail(folder, str(r["run_id"])) or {} for r in recent_runs(folder, 100)]
