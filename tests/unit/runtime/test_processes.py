"""Processes of a run: workers die with `barque run`, SIGTERM cancels like Ctrl-C, a dead worker is a failed attempt.

Real: the `barque` CLI in a child process with its forked workers, a local-folder store,
signals sent with os.kill. Steps block on a file the test removes, so nothing sleeps long.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from barque_runtime.history import recent_runs

from .blocking import alive, start_blocked_run
from .clirun import barque, pipeline, step_records


@pytest.fixture(autouse=True)
def _no_stray_workers() -> Iterator[None]:
    """Should a test fail with workers still blocked, they must not outlive it."""
    yield
    for pid in _STARTED:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _STARTED.clear()


_STARTED: list[int] = []


def _start_blocked(folder: Path) -> tuple[subprocess.Popen[str], list[int]]:
    proc, pids = start_blocked_run(folder)
    _STARTED.extend(pids)
    return proc, pids


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while [p for p in pids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.01)
    return [p for p in pids if alive(p)]


def test_workers_die_within_a_second_when_barque_run_is_killed_with_sigkill(tmp_path: Path) -> None:
    proc, pids = _start_blocked(tmp_path)
    proc.kill()
    proc.communicate(timeout=20)
    assert _gone_within(pids, 1.0) == []


def test_sigterm_cancels_like_ctrl_c_with_a_cancelled_summary_and_exit_143(tmp_path: Path) -> None:
    proc, pids = _start_blocked(tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    summary = json.loads(out)
    assert (summary["status"], summary["cancelled_by"], summary["steps_executed"]) == ("cancelled", "SIGTERM", 1)
    assert _gone_within(pids, 1.0) == []


def test_sigterm_leaves_a_cancelled_history_row(tmp_path: Path) -> None:
    proc, _ = _start_blocked(tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    [row] = recent_runs(tmp_path / ".barque")
    assert (row["run_id"], row["status"]) == (json.loads(out)["run_id"], "cancelled")


def test_sigterm_to_the_whole_process_group_cancels_and_leaves_no_worker(tmp_path: Path) -> None:
    proc, pids = _start_blocked(tmp_path)
    os.killpg(proc.pid, signal.SIGTERM)  # what a CI runner stopping a job may do
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert json.loads(out)["status"] == "cancelled"
    assert _gone_within(pids, 1.0) == []


def test_a_step_whose_worker_exits_is_retried_as_a_failed_attempt(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os

        @asset(retries=2, retry_backoff=0)
        def shaky() -> int:
            if not os.path.exists("died-once"):
                open("died-once", "w").close()
                os._exit(3)
            return 7
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.json["final_output"] == 7
    [rec] = step_records(tmp_path / ".barque", result.json["run_id"]).values()
    assert (rec["state"], rec["attempts"]) == ("succeeded", 2)


def test_a_segfaulting_step_uses_its_retries_then_crashes_alone(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import ctypes

        @asset(retries=3, retry_backoff=0)
        def segfaults() -> int:
            trace("segfaults")
            return ctypes.string_at(0)

        @asset()
        def fine() -> int:
            trace("fine")
            return 1
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert result.json["failures"] == [
        {"step": "pipeline.py:segfaults", "error": "WorkerDied: the worker process was killed by signal 11 while running this step"}
    ]
    recs = step_records(tmp_path / ".barque", result.json["run_id"])
    assert recs["pipeline.py:segfaults"]["attempts"] == 3
    assert recs["pipeline.py:segfaults"]["state"] == "crashed"  # the process died: not an exception
    assert (result.json["steps_crashed"], result.json["steps_failed"]) == (1, 1)
    assert {s["id"]: s["status"] for s in result.json["steps"]}["pipeline.py:segfaults"] == "crashed"
    assert sorted((tmp_path / "ran.txt").read_text().split()) == ["fine", "segfaults", "segfaults", "segfaults"]
