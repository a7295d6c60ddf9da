"""Run history in SQLite under ``.barque/history.db``: what ran, when, how long, cached or not.

History is a log, not the cache. The database runs in WAL mode with ``synchronous=OFF``:
no disk sync at all (a sync per commit cost a cold run ~30 ms of wall time), and WAL keeps
it consistent when the process is killed. A power cut may lose or damage the history;
it cannot touch an artifact, whose blob and commit record are synced by the store.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, started_at REAL, status TEXT, elapsed_seconds REAL,
  steps_executed INTEGER, steps_cached INTEGER, steps_failed INTEGER, steps_skipped INTEGER,
  targets TEXT, files TEXT);
CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT, step TEXT, node TEXT, state TEXT, attempts INTEGER, duration_seconds REAL,
  PRIMARY KEY (run_id, step));
CREATE INDEX IF NOT EXISTS steps_by_node ON steps (node);
PRAGMA user_version = 1;
"""


def _path(root: str | Path) -> Path:
    return Path(root) / ".barque" / "history.db"


@contextmanager
def _connect(root: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection that commits when the block succeeds and is always closed."""
    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            conn.executescript(SCHEMA)
        with conn:
            yield conn
    finally:
        conn.close()


def record_run(root: str | Path, summary: Mapping[str, Any], started_at: float, files: Iterable[str], steps: Iterable[Mapping[str, Any]]) -> None:
    """Append one run and its steps."""
    with _connect(root) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                summary["run_id"], started_at, summary["status"], summary["elapsed_seconds"],
                summary["steps_executed"], summary["steps_cached"], summary["steps_failed"], summary["steps_skipped"],
                json.dumps(summary.get("targets", [])), json.dumps(list(files)),
            ),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?)",
            [(summary["run_id"], s["step"], s["node"], s["state"], s.get("attempts", 0), s.get("duration_seconds")) for s in steps],
        )


def recent_runs(root: str | Path, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first."""
    if not _path(root).exists():  # reading leaves no .barque/ behind in a folder that never ran
        return []
    with _connect(root) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
    return [{**dict(r), "targets": json.loads(r["targets"]), "files": json.loads(r["files"])} for r in rows]


def node_stats(root: str | Path, node_id: str) -> dict[str, Any]:
    """How often a node ran or was served from cache, and how long its executions took."""
    rows = []
    if _path(root).exists():
        with _connect(root) as conn:
            rows = conn.execute("SELECT state, duration_seconds FROM steps WHERE node = ?", (node_id,)).fetchall()
    import statistics

    durations = [d for state, d in rows if state == "succeeded" and d is not None]
    counts: dict[str, int] = {}
    for state, _ in rows:
        counts[state] = counts.get(state, 0) + 1
    return {
        "node": node_id,
        "steps": len(rows),
        "by_state": counts,
        "mean_seconds": round(statistics.fmean(durations), 6) if durations else None,
        "median_seconds": round(statistics.median(durations), 6) if durations else None,
        "max_seconds": round(max(durations), 6) if durations else None,
    }
