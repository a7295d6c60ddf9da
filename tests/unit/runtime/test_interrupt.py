"""Ctrl-C stops a run cleanly: no worker left, nothing half-stored, exit 130, the next run works.

Real: the `barque` CLI in a child process with its forked workers, a local-folder store,
and SIGINT as a terminal sends it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from .blocking import alive, start_blocked_run
from .clirun import barque, pipeline, ran, run_ok




def _interrupt_mid_run(folder: Path, whole_group: bool) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    proc, pids = start_blocked_run(folder)
    if whole_group:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    else:
        os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), pids


def test_ctrl_c_exits_130_and_leaves_no_worker_process(tmp_path: Path) -> None:
    result, pids = _interrupt_mid_run(tmp_path, whole_group=True)
    assert result.returncode == 130, result.stderr
    assert '"status": "cancelled"' in result.stdout
    time.sleep(0.05)
    assert [p for p in pids if alive(p)] == []


def test_sigint_to_the_cli_process_alone_stops_its_workers(tmp_path: Path) -> None:
    result, pids = _interrupt_mid_run(tmp_path, whole_group=False)
    assert result.returncode == 130, result.stderr
    time.sleep(0.05)
    assert [p for p in pids if alive(p)] == []


def test_summary_of_an_interrupted_run_counts_the_steps_that_finished(tmp_path: Path) -> None:
    result, _ = _interrupt_mid_run(tmp_path, whole_group=True)
    summary = json.loads(result.stdout)
    assert summary["status"] == "cancelled"
    assert summary["steps_executed"] == 1  # quick finished; slow and other were stopped


def test_interrupted_step_leaves_no_stored_value_and_a_later_run_completes_it(tmp_path: Path) -> None:
    _interrupt_mid_run(tmp_path, whole_group=True)
    shown = barque("show", "pipeline.py", "slow", cwd=tmp_path)
    assert shown.code != 0 and "no stored value" in shown.stderr
    (tmp_path / "block").unlink()
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["slow"]
    assert summary["final_output"] is not None
    assert summary["steps_cached"] == 1  # quick finished before the interrupt
