"""Runs added without the database (``history.append_run``, the slim entry's way) are the rows
every reader of the history sees, exactly as if each run had been recorded by ``record_run``.

Real: SQLite and the pending file in a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from barque_runtime import history

NAMES = st.text(alphabet=st.sampled_from("ab:.py_\"\\é\n"), min_size=1, max_size=8)


def _run(i: int, steps: list[dict[str, Any]], targets: list[str]) -> tuple[dict[str, Any], float, list[str], list[dict[str, Any]]]:
    summary = {"run_id": f"20261202T0000{i:02d}-abcdef", "status": "succeeded", "elapsed_seconds": 0.01 * (i + 1),
               "steps_executed": 0, "steps_cached": len(steps), "steps_failed": 0, "steps_skipped": 0, "steps_filtered": 0,
               "targets": targets}
    return summary, 1000.0 + i, ["pipeline.py"], steps


def _everything(folder: Path, nodes: list[str], run_ids: list[str]) -> dict[str, Any]:
    """What each reader of the history answers."""
    return {
        "recent": history.recent_runs(folder, 100),
        "details": [history.run_detail(folder, r) for r in run_ids],
        "steps": [history.run_steps(folder, r) for r in run_ids],
        "stats": [history.node_stats(folder, n) for n in nodes],
        "executions": history.last_executions(folder, nodes),
        "hooks": history.last_hook_runs(folder, nodes),
        "latest": history.latest_run_id(folder),
    }


@settings(max_examples=25, deadline=None)
@given(runs=st.lists(st.tuples(st.lists(NAMES, max_size=4, unique=True), st.lists(NAMES, max_size=2)), min_size=1, max_size=4),
       pending=st.sets(st.integers(0, 3)))
def test_every_reader_sees_appended_runs_as_recorded_ones(tmp_path_factory: Any, runs: list[tuple[list[str], list[str]]],
                                                          pending: set[int]) -> None:
    direct, appended = tmp_path_factory.mktemp("direct"), tmp_path_factory.mktemp("appended")
    nodes: set[str] = set()
    ids = []
    history.record_run(appended, *_run(99, [], []))  # a full run came first (it made the database)
    history.record_run(direct, *_run(99, [], []))
    for i, (names, targets) in enumerate(runs):
        steps = [{"step": n, "node": n, "state": "cached", "attempts": 0, "duration_seconds": 0.0} for n in names]
        nodes |= set(names)
        summary, started, files, steps = _run(i, steps, targets)
        ids.append(summary["run_id"])
        history.record_run(direct, summary, started, files, steps)
        if i in pending:
            rest = history.run_rest(summary, files, steps)
            assert history.append_run(appended, summary["run_id"], started, summary["elapsed_seconds"], rest)
        else:
            history.record_run(appended, summary, started, files, steps)
    assert _everything(appended, sorted(nodes), ids) == _everything(direct, sorted(nodes), ids)
    assert _everything(appended, sorted(nodes), ids) == _everything(direct, sorted(nodes), ids)  # folded once, not twice
    if pending & set(range(len(runs))):
        assert os.path.getsize(appended / "history.db-pending") == 0


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_run_is_still_recorded(tmp_path: Path) -> None:
    summary, started, files, steps = _run(1, [], ["p.py:a"])
    rest = history.run_rest(summary, files, steps)
    with open(tmp_path / "history.db-pending", "ab") as f:
        f.write(b'\n["20261202T000000-torn00",1000.0,0.1,{"status":"succ')  # the writer died mid-line
    assert history.append_run(tmp_path, summary["run_id"], started, summary["elapsed_seconds"], rest)
    assert [r["run_id"] for r in history.recent_runs(tmp_path)] == [summary["run_id"]]


def test_a_history_with_only_pending_runs_is_read(tmp_path: Path) -> None:
    summary, started, files, steps = _run(1, [], ["p.py:a"])
    assert history.append_run(tmp_path, summary["run_id"], started, summary["elapsed_seconds"], history.run_rest(summary, files, steps))
    assert history.latest_run_id(tmp_path) == summary["run_id"]


def test_a_pending_file_that_cannot_be_written_warns_and_records_nothing(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "history.db-pending").mkdir()
    summary, started, files, steps = _run(1, [], [])
    assert not history.append_run(tmp_path, summary["run_id"], started, 0.1, history.run_rest(summary, files, steps))
    assert capsys.readouterr().err.startswith(f"barque: warning: run {summary['run_id']} was not added to the history")
