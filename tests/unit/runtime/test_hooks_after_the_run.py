"""A local run's hooks after the fact: ``barque history RUN``, ``barque status`` and ``barque graph
--run`` show how each hook went (state, duration, error), and none of them lets a hook's failure
stand for the run's outcome.

Real: the ``barque`` CLI in a child process, its worker processes, a local-folder store and the
SQLite history beside it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import barque as barque_api
from barque_runtime import history

from .blocking import start_blocked_run
from .clirun import barque, pipeline

PIPELINE = """
from os import environ
from barque import asset, task

@asset(env=["BREAK"])
def raw() -> int:
    return 1 // (0 if environ.get("BREAK") else 1)

@task(on="always")
def pager(run_report) -> None:
    token = environ.get("PAGER_TOKEN")
    assert not environ.get("HOOK_BREAKS"), f"pager down {token}" if token else "pager down"
"""


def _run(tmp_path: Path, **env: str) -> dict:
    pipeline(tmp_path, PIPELINE)
    return barque("run", "pipeline.py", "--json", cwd=tmp_path, env=env).json


def test_history_of_a_run_lists_its_hooks_with_state_duration_and_error(tmp_path: Path) -> None:
    run_id = _run(tmp_path, HOOK_BREAKS="1")["run_id"]
    detail = barque("history", run_id, cwd=tmp_path).json
    (hook,) = detail["hooks"]
    assert (hook["hook"], hook["on"], hook["state"], hook["attempts"]) == ("pipeline.py:pager", "always", "failed", 1)
    assert hook["error"] == "AssertionError: pager down" and hook["duration_seconds"] > 0
    assert "AssertionError: pager down" in hook["traceback"] and "line " in hook["traceback"]


def test_a_failed_hook_leaves_the_runs_status_in_the_history_as_its_steps_made_it(tmp_path: Path) -> None:
    run_id = _run(tmp_path, HOOK_BREAKS="1")["run_id"]
    assert barque("history", run_id, cwd=tmp_path).json["status"] == "succeeded"
    listed = barque("history", cwd=tmp_path).json[0]
    assert (listed["status"], listed["hooks_failed"]) == ("succeeded", 1)


def test_a_hooks_error_is_scrubbed_of_secret_values_everywhere_it_is_kept(tmp_path: Path) -> None:
    summary = _run(tmp_path, HOOK_BREAKS="1", PAGER_TOKEN="hunter2-secret")
    assert summary["hooks"][0]["error"] == "AssertionError: pager down <redacted>"
    assert "hunter2-secret" not in str(barque("history", summary["run_id"], cwd=tmp_path).json)
    assert not any("hunter2-secret" in p.read_text(errors="replace") for p in (tmp_path / ".barque" / "runs").rglob("*.json"))


def test_status_shows_a_hook_as_a_run_hook_with_its_last_call_and_error(tmp_path: Path) -> None:
    _run(tmp_path, HOOK_BREAKS="1")
    nodes = {n["name"]: n for n in barque("status", "pipeline.py", cwd=tmp_path).json["nodes"]}
    pager, raw = nodes["pager"], nodes["raw"]
    assert (pager["cache"]["state"], pager["cache"]["reason"]) == ("always_runs", "hook")
    assert pager["cache"]["detail"].endswith("last run failed: AssertionError: pager down")
    assert (pager["last_materialization"]["status"], pager["last_materialization"]["error"]) == ("failed", "AssertionError: pager down")
    assert raw["cache"]["state"] == "cached" and raw["last_materialization"]["status"] == "succeeded"


def test_graph_of_a_run_colours_a_hook_by_how_it_went_apart_from_the_steps(tmp_path: Path) -> None:
    run_id = _run(tmp_path, BREAK="1")["run_id"]
    mermaid = barque("graph", "pipeline.py", "--run", run_id, cwd=tmp_path).stdout
    assert "class n_pipeline_py_pager succeeded" in mermaid and "class n_pipeline_py_raw failed" in mermaid
    dot = barque("graph", "pipeline.py", "--run", run_id, "--format", "dot", cwd=tmp_path).stdout
    pager = next(line for line in dot.splitlines() if line.startswith('  "pipeline.py:pager"'))
    assert 'fillcolor="#b7e4b0"' in pager and "succeeded " in pager


def test_the_human_summary_has_a_line_per_hook_after_the_runs_own(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    out = barque("run", "pipeline.py", "--pretty", cwd=tmp_path, env={"HOOK_BREAKS": "1"}).stdout.splitlines()
    assert out[0].startswith("run ") and " succeeded in " in out[0]
    hook = next(line for line in out if line.startswith("  hook "))
    assert "pipeline.py:pager failed in " in hook and hook.endswith("(on=always)  (AssertionError: pager down)")


def test_a_version_2_history_gains_the_hooks_table_and_keeps_its_runs(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    folder.mkdir()
    conn = sqlite3.connect(folder / "history.db")
    conn.executescript(history.SCHEMA.split("CREATE TABLE IF NOT EXISTS hooks")[0] + "PRAGMA user_version = 2;")
    conn.execute("INSERT INTO runs VALUES ('r1', 1.0, 'succeeded', 0.1, 1, 0, 0, 0, '[]', '[]', 0)")
    conn.commit()
    conn.close()
    summary = {"run_id": "r2", "status": "failed", "elapsed_seconds": 0.1, "steps_executed": 1, "steps_cached": 0,
               "steps_failed": 1, "steps_skipped": 0, "hooks": [{"hook": "p.py:h", "on": "failure", "state": "succeeded",
                                                                "attempts": 1, "duration_seconds": 0.01}]}
    history.record_run(folder, summary, 2.0, [], [])
    assert [r["run_id"] for r in history.recent_runs(folder)] == ["r2", "r1"]
    assert history.run_detail(folder, "r2")["hooks"] == [{"hook": "p.py:h", "on": "failure", "state": "succeeded",  # type: ignore[index]
                                                          "attempts": 1, "duration_seconds": 0.01}]


def test_each_batch_lists_its_hooks_and_a_failed_hook_leaves_the_batch_succeeded(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE.replace('environ.get("HOOK_BREAKS")', 'day == "2"').replace("def pager(run_report)", "def pager(run_report, day)"))
    summary = barque_api.run_many(str(tmp_path / "pipeline.py"), params=[{"day": "1"}, {"day": "2"}], workers=1)
    assert summary["status"] == "succeeded" and [b["status"] for b in summary["runs"]] == ["succeeded", "succeeded"]
    assert [[h["state"] for h in b["hooks"]] for b in summary["runs"]] == [["succeeded"], ["failed"]]


def test_a_cancelled_run_calls_its_always_hook_and_a_failing_one_leaves_it_cancelled_with_exit_130(tmp_path: Path) -> None:
    proc, _ = start_blocked_run(tmp_path, '''
from barque import task

@task(on="always")
def closer(run_report) -> None:
    open("closer-saw-" + run_report["status"], "w").close()
    raise RuntimeError("closer down")
''')
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    summary = json.loads(out)
    assert (proc.returncode, summary["status"]) == (130, "cancelled")
    assert (tmp_path / "closer-saw-cancelled").exists()
    assert [(h["hook"], h["state"]) for h in summary["hooks"]] == [("pipeline.py:closer", "failed")]
    assert "hook pipeline.py:closer failed: RuntimeError: closer down (the run cancelled)" in err
    assert barque("history", summary["run_id"], cwd=tmp_path).json["status"] == "cancelled"
