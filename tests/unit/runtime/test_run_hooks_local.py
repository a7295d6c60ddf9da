"""Run hooks in a local run: the hooks the outcome calls run after the steps, in their own
process, with the run report; a hook that fails is reported and the run's status and exit code
stay what its steps made them.

Real: the ``barque`` CLI in a child process, its worker processes and a local-folder store.
"""

from __future__ import annotations

import json
from pathlib import Path

from .clirun import barque, pipeline

PIPELINE = """
import json
import os
import barque
from barque import asset, task

@asset()
def raw() -> int:
    if os.environ.get("BREAK"):
        raise ValueError("feed down")
    return 1

@task(on="failure")
def alert(run_report: barque.RunReport) -> None:
    with open("alert.json", "w") as f:
        json.dump(run_report, f)

@task(on="success")
def celebrate(run_report) -> None:
    open("celebrated", "w").close()

@task(on="always")
def flaky_hook() -> None:
    if os.environ.get("HOOK_BREAKS"):
        raise RuntimeError("pager down")
"""


def _hooks(summary: dict) -> dict[str, str]:
    return {h["hook"].rpartition(":")[2]: h["state"] for h in summary.get("hooks", [])}


def test_a_failed_run_calls_its_failure_and_always_hooks_with_the_report(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("run", "pipeline.py", "--json", cwd=tmp_path, env={"BREAK": "1"})
    assert result.code == 1
    assert _hooks(result.json) == {"alert": "succeeded", "flaky_hook": "succeeded"}
    report = json.loads((tmp_path / "alert.json").read_text())
    assert report["status"] == "failed" and report["run_id"] == result.json["run_id"]
    assert report["failed"] == ["pipeline.py:raw"]
    assert report["steps"]["pipeline.py:raw"] == {"state": "failed", "attempts": 1, "error": "ValueError: feed down",
                                                  "duration_seconds": report["steps"]["pipeline.py:raw"]["duration_seconds"]}
    assert not (tmp_path / "celebrated").exists()


def test_a_succeeded_run_calls_its_success_hooks_only(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("run", "pipeline.py", "--json", cwd=tmp_path)
    assert result.code == 0
    assert _hooks(result.json) == {"celebrate": "succeeded", "flaky_hook": "succeeded"}
    assert (tmp_path / "celebrated").exists() and not (tmp_path / "alert.json").exists()


def test_a_failing_hook_is_reported_without_changing_the_runs_status_or_exit_code(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("run", "pipeline.py", "--json", cwd=tmp_path, env={"HOOK_BREAKS": "1"})
    assert result.code == 0 and result.json["status"] == "succeeded"
    hook = next(h for h in result.json["hooks"] if h["hook"].endswith(":flaky_hook"))
    assert hook["state"] == "failed" and hook["error"] == "RuntimeError: pager down"
    assert "hook pipeline.py:flaky_hook failed: RuntimeError: pager down (the run succeeded)" in result.stderr


def test_a_hook_that_outruns_its_timeout_is_crashed(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        import time
        from barque import asset, task

        @asset()
        def raw() -> int:
            return 1

        @task(on="always", timeout_seconds=0.5)
        def stuck() -> None:
            time.sleep(30)
    """)
    result = barque("run", "pipeline.py", "--json", cwd=tmp_path)
    assert result.code == 0
    (hook,) = result.json["hooks"]
    assert hook["state"] == "crashed" and hook["error"].startswith("Timeout")


def test_a_hook_named_as_a_target_is_refused(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("run", "pipeline.py", "alert", cwd=tmp_path)
    assert result.code == 2 and "is a run hook (on=)" in result.stderr
