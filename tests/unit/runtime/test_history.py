"""Run history: SQLite under .barque/history.db.

Real: SQLite in a temporary folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from barque_runtime.history import node_stats, recent_runs, record_run


def _summary(run_id: str, status: str = "succeeded") -> dict[str, Any]:
    return {
        "run_id": run_id, "status": status, "elapsed_seconds": 0.5, "steps_executed": 1,
        "steps_cached": 0, "steps_failed": 0, "steps_skipped": 0, "steps_filtered": 0, "targets": ["p.py:a"],
    }


def _step(node: str, state: str, seconds: float | None) -> dict[str, Any]:
    return {"step": node, "node": node, "state": state, "attempts": 1, "duration_seconds": seconds}


def test_a_recorded_run_is_listed_with_every_field(tmp_path: Path) -> None:
    record_run(tmp_path / ".barque", _summary("r1"), 100.0, ["p.py"], [_step("p.py:a", "succeeded", 0.25)])
    [run] = recent_runs(tmp_path / ".barque")
    assert run == {**_summary("r1"), "started_at": 100.0, "files": ["p.py"], "hooks_failed": 0}
    assert (tmp_path / ".barque" / "history.db").exists()


def test_a_run_recorded_twice_keeps_its_last_record(tmp_path: Path) -> None:
    record_run(tmp_path / ".barque", _summary("r1", "failed"), 100.0, ["p.py"], [])
    record_run(tmp_path / ".barque", _summary("r1"), 100.0, ["p.py"], [])
    assert [r["status"] for r in recent_runs(tmp_path / ".barque")] == ["succeeded"]


def test_newest_first_up_to_the_limit(tmp_path: Path) -> None:
    for i in range(5):
        record_run(tmp_path / ".barque", _summary(f"r{i}"), 100.0 + i, ["p.py"], [])
    assert [r["run_id"] for r in recent_runs(tmp_path / ".barque", limit=3)] == ["r4", "r3", "r2"]


def test_stats_count_states_and_time_only_executions(tmp_path: Path) -> None:
    record_run(tmp_path / ".barque", _summary("r1"), 100.0, ["p.py"], [_step("p.py:a", "succeeded", 0.2)])
    record_run(tmp_path / ".barque", _summary("r2"), 101.0, ["p.py"], [_step("p.py:a", "succeeded", 0.4)])
    record_run(tmp_path / ".barque", _summary("r3"), 102.0, ["p.py"], [_step("p.py:a", "cached", 0.0)])
    stats = node_stats(tmp_path / ".barque", "p.py:a")
    assert stats["by_state"] == {"succeeded": 2, "cached": 1}
    assert (stats["mean_seconds"], stats["median_seconds"], stats["max_seconds"]) == (0.3, 0.3, 0.4)


def test_reading_where_nothing_ran_creates_nothing(tmp_path: Path) -> None:
    assert recent_runs(tmp_path / ".barque") == [] and node_stats(tmp_path / ".barque", "p.py:a")["steps"] == 0
    assert not (tmp_path / ".barque").exists()


def test_a_history_from_before_filtered_steps_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    import sqlite3

    folder = tmp_path / ".barque"
    folder.mkdir()
    old = sqlite3.connect(folder / "history.db")
    old.executescript("""
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at REAL, status TEXT, elapsed_seconds REAL,
          steps_executed INTEGER, steps_cached INTEGER, steps_failed INTEGER, steps_skipped INTEGER, targets TEXT, files TEXT);
        INSERT INTO runs VALUES ('old', 1.0, 'succeeded', 0.1, 1, 0, 0, 0, '[]', '[]');
        PRAGMA user_version = 1;
    """)
    old.close()
    record_run(folder, {**_summary("new"), "steps_filtered": 2}, 100.0, ["p.py"], [])
    assert [(r["run_id"], r["steps_filtered"]) for r in recent_runs(folder)] == [("new", 2), ("old", 0)]
