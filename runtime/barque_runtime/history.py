"""Run history under ``.barque/history/``: what ran, when, how long, cached or not.

Two append-only JSON-lines files: ``runs.jsonl``, one line per run, and ``steps.jsonl``,
one line per step. A run appends to each with a single ``write`` and no sync: history is a
log, not the cache, so a power cut may lose the last entry (or leave half a line, which the
readers skip) but never an artifact. This replaced an SQLite database, which cost a cold
run ~10 ms of CPU and 8 fdatasyncs (4 on later runs); a ``history.db`` left by an earlier
version is still read, with ``sqlite3`` imported only then. A run recorded twice keeps its
last record, as the database's primary keys did.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Iterator, Mapping

RUN_FIELDS = (
    "run_id", "started_at", "status", "elapsed_seconds",
    "steps_executed", "steps_cached", "steps_failed", "steps_skipped", "targets", "files",
)


def _folder(root: str | os.PathLike[str]) -> str:
    return os.path.join(root, ".barque", "history")


def _legacy_db(root: str | os.PathLike[str]) -> str:
    return os.path.join(root, ".barque", "history.db")


def _append(path: str, lines: list[str]) -> None:
    if not lines:
        return
    data = "".join(lines).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


def record_run(
    root: str | os.PathLike[str], summary: Mapping[str, Any], started_at: float, files: Iterable[str], steps: Iterable[Mapping[str, Any]]
) -> None:
    """Append one run and its steps."""
    folder = _folder(root)
    os.makedirs(folder, exist_ok=True)
    run_id = summary["run_id"]
    step_lines = [
        _dumps({"run_id": run_id, "step": s["step"], "node": s["node"], "state": s["state"],
                "attempts": s.get("attempts", 0), "duration_seconds": s.get("duration_seconds")})
        for s in steps
    ]
    run = {
        "run_id": run_id, "started_at": started_at, "status": summary["status"], "elapsed_seconds": summary["elapsed_seconds"],
        "steps_executed": summary["steps_executed"], "steps_cached": summary["steps_cached"],
        "steps_failed": summary["steps_failed"], "steps_skipped": summary["steps_skipped"],
        "targets": list(summary.get("targets", [])), "files": list(files),
    }
    # steps first: a run listed by `barque history` has its steps in `barque stats`
    _append(os.path.join(folder, "steps.jsonl"), step_lines)
    _append(os.path.join(folder, "runs.jsonl"), [_dumps(run)])


def _read_lines(path: str) -> Iterator[dict[str, Any]]:
    """The complete, well-formed JSON objects of a JSON-lines file; nothing if it is missing."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    for line in data.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:  # a line cut short by a crash, or not ours
            continue
        if isinstance(obj, dict):
            yield obj


def _latest(rows: Iterable[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per key, the last one written, in the order they were last written."""
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row.get(f) for f in key)
        by_key.pop(k, None)
        by_key[k] = row
    return list(by_key.values())


def _legacy_rows(root: str | os.PathLike[str], query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of an SQLite ``history.db`` from an earlier barque, if there is one."""
    path = _legacy_db(root)
    if not os.path.exists(path):
        return []
    import sqlite3

    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(query, params).fetchall()]
    except sqlite3.DatabaseError:  # unreadable: the runs since then are still listed
        return []
    finally:
        conn.close()


def recent_runs(root: str | os.PathLike[str], limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first."""
    legacy = [
        {**r, "targets": json.loads(r["targets"]), "files": json.loads(r["files"])}
        for r in _legacy_rows(root, "SELECT * FROM runs")
    ]
    runs = _latest([*legacy, *_read_lines(os.path.join(_folder(root), "runs.jsonl"))], ("run_id",))
    runs.reverse()  # among equal start times, the later written first
    runs.sort(key=lambda r: r.get("started_at") or 0.0, reverse=True)
    if limit >= 0:  # a negative limit lists every run, as SQLite's LIMIT did
        runs = runs[:limit]
    return [{f: r.get(f) for f in RUN_FIELDS} for r in runs]


def node_stats(root: str | os.PathLike[str], node_id: str) -> dict[str, Any]:
    """How often a node ran or was served from cache, and how long its executions took."""
    legacy = _legacy_rows(root, "SELECT run_id, step, node, state, duration_seconds FROM steps WHERE node = ?", (node_id,))
    current = (s for s in _read_lines(os.path.join(_folder(root), "steps.jsonl")) if s.get("node") == node_id)
    rows = [(str(s.get("state")), s.get("duration_seconds")) for s in _latest([*legacy, *current], ("run_id", "step"))]
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
