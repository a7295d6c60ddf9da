"""What a cold run imports: its start-up is most of a one-step run (bench/FINDINGS.md, "Issue 11,
cold trivial imports"), so what left its path must not come back unnoticed.

Real: the console entry in a child process (``certruns.console``), a trivial pipeline in a temp
folder with no store yet.
"""

from __future__ import annotations

from pathlib import Path

from .certruns import console
from .clirun import write

RUN = ("run", "pipeline.py", "--workers", "2")


def _cold_run(folder: Path) -> list[str]:
    write(folder, "pipeline.py", """
        from barque import asset

        @asset()
        def hello() -> dict:
            return {"message": "hello"}
    """)
    answer = console(*RUN, cwd=folder)
    assert (answer.code, answer.path, answer.summary["steps_executed"]) == (0, "full", 1), answer.stderr
    return answer.modules


def test_a_cold_run_imports_neither_sqlite3_nor_the_cluster_commands(tmp_path: Path) -> None:
    loaded = _cold_run(tmp_path)
    assert "barque_runtime.history" in loaded  # the row is appended (history.append_run) ...
    assert not {"sqlite3", "datetime"} & set(loaded)  # ... not written into the database
    assert not [m for m in loaded if m.startswith(("barque_operator", "barque_cli.cmd_status", "barque_cli.cmd_submit"))]


def test_a_cold_run_imports_neither_dataclasses_nor_inspect(tmp_path: Path) -> None:
    # A frozen dataclass costs every run ~0.9 ms to define, a NamedTuple ~0.1, and importing
    # dataclasses brings inspect (with dis): its records are NamedTuples (bench/FINDINGS.md).
    loaded = set(_cold_run(tmp_path))
    assert not {"dataclasses", "inspect", "dis"} & loaded
