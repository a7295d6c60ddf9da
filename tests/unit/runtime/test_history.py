"""Run history: JSON lines under .barque/history/, and the SQLite history.db of earlier versions.

Real: files in a temporary folder, and SQLite for the old database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from barque_runtime.history import node_stats, recent_runs, record_run

OLD_SCHEMA = """
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, started_at REAL, status TEXT, elapsed_seconds REAL,
  steps_executed INTEGER, steps_cached INTEGER, steps_failed INTEGER, steps_skipped INTEGER,
  targets TEXT, files TEXT);
CREATE TABLE steps (
  run_id TEXT, step TEXT, node TEXT, state TEXT, attempts INTEGER, duration_seconds REAL,
  PRIMARY KEY (run_id, step));
PRAGMA user_version = 1;
"""


def _summary(run_id: str, status: str = "succeeded") -> dict[str, Any]:
    return {
        "run_id": run_id, "status": status, "elapsed_seconds": 0.5, "steps_executed": 1,
        "steps_cached": 0, "steps_failed": 0, "steps_skipped": 0, "targets": ["p.py:a"],
    }


def _step(node: str, state: str, seconds: float | None) -> dict[str, Any]:
    return {"step": node, "node": node, "state": state, "attempts": 1, "duration_seconds": seconds}


def test_a_recorded_run_is_listed_with_every_field(tmp_path: Path) -> None:
    record_run(tmp_path, _summary("r1"), 100.0, ["p.py"], [_step("p.py:a", "succeeded", 0.25)])
    assert recent_runs(tmp_path) == [{
        "run_id": "r1", "started_at": 100.0, "status": "succeeded", "elapsed_seconds": 0.5,
        "steps_executed": 1, "steps_cached": 0, "steps_failed": 0, "steps_skipped": 0,
        "targets": ["p.py:a"], "files": ["p.py"],
    }]
    assert node_stats(tmp_path, "p.py:a")["by_state"] == {"succeeded": 1}


def test_a_run_recorded_twice_keeps_its_last_record(tmp_path: Path) -> None:
    record_run(tmp_path, _summary("r1", "failed"), 100.0, ["p.py"], [_step("p.py:a", "failed", None)])
    record_run(tmp_path, _summary("r1"), 100.0, ["p.py"], [_step("p.py:a", "succeeded", 0.25)])
    assert [r["status"] for r in recent_runs(tmp_path)] == ["succeeded"]
    assert node_stats(tmp_path, "p.py:a")["by_state"] == {"succeeded": 1}


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    record_run(tmp_path, _summary("r1"), 100.0, ["p.py"], [_step("p.py:a", "succeeded", 0.25)])
    with open(tmp_path / ".barque" / "history" / "runs.jsonl", "a") as f:
        f.write('{"run_id": "r2", "started_')
    with open(tmp_path / ".barque" / "history" / "steps.jsonl", "a") as f:
        f.write('{"run_id": "r2", "step": "p.py:a", "no')
    assert [r["run_id"] for r in recent_runs(tmp_path)] == ["r1"]
    assert node_stats(tmp_path, "p.py:a")["steps"] == 1


def test_runs_in_an_earlier_versions_history_db_are_still_listed_and_counted(tmp_path: Path) -> None:
    (tmp_path / ".barque").mkdir()
    conn = sqlite3.connect(tmp_path / ".barque" / "history.db")
    conn.executescript(OLD_SCHEMA)
    with conn:
        conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)", ("old", 50.0, "succeeded", 1.0, 1, 0, 0, 0, '["p.py:a"]', '["p.py"]'))
        conn.execute("INSERT INTO steps VALUES (?,?,?,?,?,?)", ("old", "p.py:a", "p.py:a", "succeeded", 1, 2.0))
    conn.close()
    record_run(tmp_path, _summary("new"), 100.0, ["p.py"], [_step("p.py:a", "cached", 0.0)])
    runs = recent_runs(tmp_path)
    assert [r["run_id"] for r in runs] == ["new", "old"]
    assert runs[1]["targets"] == ["p.py:a"] and runs[1]["files"] == ["p.py"]
    stats = node_stats(tmp_path, "p.py:a")
    assert stats["by_state"] == {"succeeded": 1, "cached": 1}
    assert stats["max_seconds"] == 2.0


def test_newest_first_up_to_the_limit(tmp_path: Path) -> None:
    for i, started in enumerate([30.0, 10.0, 20.0]):
        record_run(tmp_path, _summary(f"r{i}"), started, ["p.py"], [])
    assert [r["run_id"] for r in recent_runs(tmp_path, limit=2)] == ["r0", "r2"]
