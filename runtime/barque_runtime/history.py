"""Run history in SQLite: what ran, when, how long, cached or not.

Where: ``history.db`` follows the store, not the project, so a read-only project folder
with ``--store`` elsewhere still runs. A local-folder store keeps it inside its folder
(``.barque/history.db`` by default); an ``s3://`` store, which SQLite cannot live in, gets
a local file per store URI under ``$XDG_STATE_HOME/barque/history/`` (``~/.local/state``
when unset). History is a log, not the cache: a run whose row cannot be written (no
writable place, a full disk) reports its result anyway and warns on stderr.

The database keeps a rollback journal that stays in place between runs
(``journal_mode=PERSIST``) and runs with ``synchronous=OFF``: no disk sync at all (a sync per
commit cost a cold run ~30 ms of wall time), and the journal keeps it consistent when the
process is killed (the next connection rolls a torn transaction back). WAL did the same but
made two files (``-wal``, ``-shm``) at every connection and deleted them at its close, with a
checkpoint: ~1 ms of CPU and two file creations per run, for a fully cached run most of what
it wrote (bench/FINDINGS.md); a persisted journal is one file made once. A power cut may lose
or damage the history; it cannot touch an artifact, which the store checks by its content hash.

A run does not open the database: ``sqlite3`` and the transaction were a quarter of a run
answered by a certificate (``barque_cli.fastrun``) and a few per cent of a cold trivial one
(bench/FINDINGS.md). Every run, by either path, appends its row, rendered by ``run_rest``, as one
line to ``history.db-pending`` (``append_run``) under a shared ``flock``; every connection
(``_connect``: every reader here) first folds the pending rows into the database under an
exclusive one, then empties the file. So every reader sees exactly the rows it would see had
each run written the database itself. A row is inserted before the file is emptied, and again
harmlessly (``INSERT OR IGNORE``) if the process dies in between; a line torn by a crash is
skipped (each starts on a line of its own). A database that cannot be opened (corrupt, locked
for longer than ``LOCK_TIMEOUT``, not a file) is therefore the reader's error, reported as a
``StoreError`` naming the file; the runs wait in the pending file meanwhile.
"""

from __future__ import annotations

import os
import sys
import time

# typing's own constant, without importing typing, nor pathlib or contextlib below: the slim
# console entry (barque_cli.fastrun) adds a run with this module (bench/FINDINGS.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType
    from typing import Any, Iterable, Mapping

    import sqlite3

# json and hashlib are imported where used: the slim entry appends a pre-rendered row with
# neither (bench/FINDINGS.md).

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, started_at REAL, status TEXT, elapsed_seconds REAL,
  steps_executed INTEGER, steps_cached INTEGER, steps_failed INTEGER, steps_skipped INTEGER,
  targets TEXT, files TEXT, steps_filtered INTEGER);
CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT, step TEXT, node TEXT, state TEXT, attempts INTEGER, duration_seconds REAL,
  PRIMARY KEY (run_id, step));
CREATE INDEX IF NOT EXISTS steps_by_node ON steps (node);
CREATE TABLE IF NOT EXISTS hooks (
  run_id TEXT, hook TEXT, "on" TEXT, state TEXT, attempts INTEGER, duration_seconds REAL, error TEXT,
  PRIMARY KEY (run_id, hook));
PRAGMA user_version = 3;
"""


LOCK_TIMEOUT = 2.0  # seconds to wait for another run's write; each takes milliseconds


def location(store_uri: str | None, project_root: str | Path) -> Path:
    """The folder that holds the history of runs against ``store_uri`` (see the module docstring)."""
    from pathlib import Path

    if not store_uri:
        return Path(project_root) / ".barque"
    if store_uri.startswith("file://") or "://" not in store_uri:
        return Path(store_uri.removeprefix("file://"))
    import hashlib

    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "barque" / "history" / hashlib.sha256(store_uri.encode()).hexdigest()[:16]


def new_run_id() -> str:
    """A new local run's id: its start (UTC, to the second) and six random hex digits."""
    # os.urandom(3).hex() is what secrets.token_hex(3) returns, without importing secrets
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def _path(folder: str | Path) -> str:
    return os.path.join(folder, "history.db")


def _pending(folder: str | Path) -> str:
    return os.path.join(folder, "history.db-pending")


def _exists(folder: str | Path) -> bool:
    """Whether ``folder`` holds a history (reading leaves none behind in a folder that never ran)."""
    return os.path.exists(_path(folder)) or os.path.exists(_pending(folder))


class _connect:
    """A connection that commits when the block succeeds and is always closed; the pending rows
    (``append_run``) are in the database before the block starts."""

    def __init__(self, folder: str | Path) -> None:
        import sqlite3  # here: a command that reads no history (plan, graph, show) does not pay for it

        path = _path(folder)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            self._conn = conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT)
        except sqlite3.Error as err:
            raise _unreadable(path, err) from err
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA synchronous=OFF")  # first: switching the journal mode then syncs nothing
            conn.execute("PRAGMA journal_mode=PERSIST")  # a history.db left in WAL mode switches back here
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                if version == 1:  # a history from before filtered steps: its runs had none
                    conn.execute("ALTER TABLE runs ADD COLUMN steps_filtered INTEGER DEFAULT 0")
                conn.executescript(SCHEMA)  # creates what an older history lacks (v2: the hooks table)
            _fold_pending(conn, folder)
        except sqlite3.Error as err:
            conn.close()
            raise _unreadable(path, err) from err
        except BaseException:
            conn.close()
            raise

    def __enter__(self) -> sqlite3.Connection:
        self._conn.__enter__()
        return self._conn

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._conn.__exit__(kind, err, tb)  # commits, or rolls back on an error
        finally:
            self._conn.close()


def _unreadable(path: str, err: Exception) -> Exception:
    """The error a reader reports for a database it cannot open (corrupt, locked, not a file)."""
    from barque.errors import StoreError

    return StoreError(f"the run history cannot be read: {err}", where=path,
                       hint="runs since are kept in history.db-pending; move history.db away to start a new history with them")


def record_run_or_warn(
    folder: str | Path, summary: Mapping[str, Any], started_at: float, files: Iterable[str], steps: Iterable[Mapping[str, Any]]
) -> bool:
    """Add a finished run to the history as ``append_run`` does (the module docstring), making
    ``folder`` when missing; warns on stderr instead of raising when the row cannot be written."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        _warn(folder, summary["run_id"], err)
        return False
    return append_run(folder, summary["run_id"], started_at, summary["elapsed_seconds"], run_rest(summary, files, steps))


def _warn(folder: str | Path, run_id: str, err: Exception) -> None:
    sys.stderr.write(f"barque: warning: run {run_id} was not added to the history {_path(folder)}: {err}\n")


def record_run(folder: str | Path, summary: Mapping[str, Any], started_at: float, files: Iterable[str], steps: Iterable[Mapping[str, Any]]) -> None:
    """Write one run and its steps into ``folder/history.db`` now, replacing a run of the same id
    (a run adds itself with ``record_run_or_warn``, which leaves the database to its readers)."""
    with _connect(folder) as conn:
        _insert(conn, "REPLACE", summary, started_at, list(files), steps)


def _insert(conn: sqlite3.Connection, conflict: str, summary: Mapping[str, Any], started_at: float, files: list[str],
            steps: Iterable[Mapping[str, Any]]) -> None:
    """One run's rows (``conflict``: ``REPLACE`` or ``IGNORE``, what an existing run id gets)."""
    import json

    conn.execute(
        f"INSERT OR {conflict} INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            summary["run_id"], started_at, summary["status"], summary["elapsed_seconds"],
            summary["steps_executed"], summary["steps_cached"], summary["steps_failed"], summary["steps_skipped"],
            json.dumps(summary.get("targets", [])), json.dumps(files), summary.get("steps_filtered", 0),
        ),
    )
    conn.executemany(
        f"INSERT OR {conflict} INTO steps VALUES (?,?,?,?,?,?)",
        [(summary["run_id"], s["step"], s["node"], s["state"], s.get("attempts", 0), s.get("duration_seconds")) for s in steps],
    )
    conn.executemany(  # the run hooks it called: how each went, apart from the run's own outcome
        f"INSERT OR {conflict} INTO hooks VALUES (?,?,?,?,?,?,?)",
        [(summary["run_id"], h["hook"], h.get("on"), h["state"], h.get("attempts", 0), h.get("duration_seconds"), h.get("error"))
         for h in summary.get("hooks", [])],
    )


# --- runs appended without sqlite3 (the slim entry) -----------------------------------------

_REST = ("status", "steps_executed", "steps_cached", "steps_failed", "steps_skipped", "steps_filtered", "targets")


def run_rest(summary: Mapping[str, Any], files: Iterable[str], steps: Iterable[Mapping[str, Any]]) -> str:
    """What ``append_run`` writes of a run beyond its id, start and duration, rendered once
    (the certificate keeps it): the summary's counts, ``targets``, ``files`` and ``steps``.
    ``record_run`` of the same arguments records the same rows."""
    import json

    rest = {k: summary[k] for k in _REST if k in summary}
    rest["files"] = list(files)
    rest["steps"] = [{"step": s["step"], "node": s["node"], "state": s["state"], "attempts": s.get("attempts", 0),
                      "duration_seconds": s.get("duration_seconds")} for s in steps]
    if summary.get("hooks"):
        rest["hooks"] = list(summary["hooks"])
    return json.dumps(rest, separators=(",", ":"), allow_nan=False)


def append_run(folder: str | Path, run_id: str, started_at: float, elapsed_seconds: float, rest: str) -> bool:
    """Add a run to the history without opening the database: one line appended to
    ``history.db-pending``, which the next connection folds in. ``rest`` is ``run_rest``'s;
    ``run_id`` is ``new_run_id``'s (nothing in it needs escaping in JSON). Warns on stderr as
    ``record_run_or_warn`` does when the line cannot be written."""
    import fcntl

    entry = f'\n["{run_id}",{started_at!r},{elapsed_seconds!r},{rest}]\n'.encode("utf-8", "surrogateescape")
    try:
        fd = os.open(_pending(folder), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # appends go side by side; a fold waits for them
            view = memoryview(entry)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return True
    except OSError as err:
        _warn(folder, run_id, err)
        return False


def _fold_pending(conn: sqlite3.Connection, folder: str | Path) -> None:
    """Move the pending rows into the database, then empty the file (the module docstring)."""
    try:
        fd = os.open(_pending(folder), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        if not chunks:
            return
        with conn:
            for raw in b"".join(chunks).split(b"\n"):
                run = _pending_run(raw)
                if run is not None:
                    _insert(conn, "IGNORE", *run)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _pending_run(raw: bytes) -> tuple[dict[str, Any], float, list[str], list[dict[str, Any]]] | None:
    """``_insert``'s arguments for one pending line; ``None`` for a blank or torn one."""
    import json

    try:
        run_id, started_at, elapsed, rest = json.loads(raw)
        summary = {**rest, "run_id": run_id, "elapsed_seconds": elapsed}
        files, steps = list(rest["files"]), list(rest["steps"])
        if any(k not in rest for k in _REST[:5]) or not all(isinstance(s, dict) and {"step", "node", "state"} <= s.keys() for s in steps):
            return None
        return summary, float(started_at), files, steps
    except (ValueError, TypeError, KeyError):
        return None


def recent_runs(folder: str | Path, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs in ``folder/history.db``, newest first; ``hooks_failed`` counts the run
    hooks that failed or crashed after it (its ``status`` stays what its steps made it)."""
    if not _exists(folder):  # reading leaves no .barque/ behind in a folder that never ran
        return []
    with _connect(folder) as conn:
        rows = conn.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM hooks h WHERE h.run_id = r.run_id AND h.state != 'succeeded') AS hooks_failed"
            " FROM runs r ORDER BY r.started_at DESC LIMIT ?", (limit,)
        ).fetchall()
    import json

    return [{**dict(r), "targets": json.loads(r["targets"]), "files": json.loads(r["files"])} for r in rows]


def run_steps(folder: str | Path, run_id: str) -> dict[str, dict[str, Any]]:
    """The steps ``folder/history.db`` holds for ``run_id``, by step id (state, attempts, duration).

    Steps the planner settled as cached leave no record in the store, only here, so a picture
    of a local run (``barque graph --run``) reads both."""
    if not _exists(folder):
        return {}
    with _connect(folder) as conn:
        rows = conn.execute("SELECT step, node, state, attempts, duration_seconds FROM steps WHERE run_id = ?", (run_id,)).fetchall()
    return {r["step"]: dict(r) for r in rows}


def node_stats(folder: str | Path, node_id: str) -> dict[str, Any]:
    """How often a node ran or was served from cache, and how long its executions took."""
    rows = []
    if _exists(folder):
        with _connect(folder) as conn:
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


def run_detail(folder: str | Path, run_id: str) -> dict[str, Any] | None:
    """One run as ``recent_runs`` lists it, with its steps (``step``, ``node``, ``state``,
    ``attempts``, ``duration_seconds``) in the order they were recorded; None when unknown."""
    if not _exists(folder):
        return None
    with _connect(folder) as conn:
        row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        steps = conn.execute(
            "SELECT step, node, state, attempts, duration_seconds FROM steps WHERE run_id = ? ORDER BY rowid", (run_id,)
        ).fetchall()
        hooks = conn.execute(
            'SELECT hook, "on", state, attempts, duration_seconds, error FROM hooks WHERE run_id = ? ORDER BY rowid', (run_id,)
        ).fetchall()
    if row is None:
        return None
    import json

    return {**dict(row), "targets": json.loads(row["targets"]), "files": json.loads(row["files"]), "steps": [dict(s) for s in steps],
            "hooks": [{k: v for k, v in dict(h).items() if v is not None} for h in hooks]}


def last_hook_runs(folder: str | Path, node_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each run hook's latest call among ``node_ids``, by node id: ``run_id``, ``started_at``
    (the run's start), ``state``, ``attempts``, ``duration_seconds``, ``error``."""
    wanted = set(node_ids)
    rows = _oldest_first(folder, wanted, "SELECT h.hook, h.state, h.attempts, h.duration_seconds, h.error, r.run_id, r.started_at"
                                         " FROM hooks h JOIN runs r ON r.run_id = h.run_id")
    return {r["hook"]: {**dict(r), "step": r["hook"], "node": r["hook"]} for r in rows if r["hook"] in wanted}


def _oldest_first(folder: str | Path, wanted: set[str], select: str) -> list[sqlite3.Row]:
    """The rows of ``select`` (joined with ``runs r``), oldest run first; none when nothing is
    ``wanted`` or there is no history (reading leaves no ``history.db`` behind)."""
    if not wanted or not _exists(folder):
        return []
    with _connect(folder) as conn:
        return conn.execute(select + " ORDER BY r.started_at, r.rowid").fetchall()


def latest_run_id(folder: str | Path) -> str | None:
    """The id of the most recent run in ``folder/history.db``, if any."""
    runs = recent_runs(folder, 1)
    return str(runs[0]["run_id"]) if runs else None


def last_executions(folder: str | Path, node_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each step's latest execution (``succeeded`` or ``failed``; a cache hit is not one) among
    ``node_ids``, by step id: ``run_id``, ``started_at`` (the run's start), ``state``,
    ``attempts``, ``duration_seconds``. Reading leaves no ``history.db`` behind."""
    wanted = set(node_ids)
    rows = _oldest_first(folder, wanted, "SELECT s.step, s.node, s.state, s.attempts, s.duration_seconds, r.run_id, r.started_at"
                                         " FROM steps s JOIN runs r ON r.run_id = s.run_id WHERE s.state IN ('succeeded', 'failed')")
    return {r["step"]: dict(r) for r in rows if r["node"] in wanted}
