"""A run whose work is done reports its result: user classes, broken history, failed record writes, odd errors.

Real: the `barque` CLI in a child process, a local-folder store and SQLite in temp folders.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from barque_runtime.history import location, recent_runs

from .clirun import barque, pipeline, run_ok

USER_CLASS = """
from barque import asset

class Point:
    def __init__(self, x):
        self.x = x

    def __repr__(self):
        return f"Point({self.x})"

@asset()
def point() -> Point:
    return Point(3)
"""

SIMPLE = """
from barque import asset

@asset()
def one() -> int:
    return 1
"""


def test_final_output_of_a_user_class_is_a_pointer_with_its_repr_when_run_from_elsewhere(tmp_path: Path) -> None:
    pipeline(tmp_path / "proj", USER_CLASS)
    # From another folder, the parent cannot import `pipeline`: it must not need to.
    summary = run_ok(str(tmp_path / "proj" / "pipeline.py"), cwd=tmp_path)
    out = summary["final_output"]
    assert (out["_type"], out["_repr"], out["_artifact"]["serializer"]) == ("Point", "Point(3)", "pickle")


def test_final_output_of_a_cached_user_class_keeps_its_repr(tmp_path: Path) -> None:
    pipeline(tmp_path / "proj", USER_CLASS)
    run_ok(str(tmp_path / "proj" / "pipeline.py"), cwd=tmp_path)
    summary = run_ok(str(tmp_path / "proj" / "pipeline.py"), cwd=tmp_path)
    assert summary["steps_cached"] == 1 and summary["final_output"]["_repr"] == "Point(3)"


def test_a_corrupt_history_db_does_not_touch_the_run_and_the_history_command_names_it(tmp_path: Path) -> None:
    pipeline(tmp_path, SIMPLE)
    (tmp_path / ".barque").mkdir()
    (tmp_path / ".barque" / "history.db").write_bytes(b"this is not a database" * 100)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0 and result.json["final_output"] == 1 and result.stderr == ""
    listed = barque("history", cwd=tmp_path)
    assert listed.code == 3 and "history.db" in listed.stderr and "cannot be read" in listed.stderr
    (tmp_path / ".barque" / "history.db").unlink()  # what the hint says: the run waited in the pending rows
    assert [r["run_id"] for r in recent_runs(tmp_path / ".barque")] == [result.json["run_id"]]


def test_a_history_db_that_is_a_directory_does_not_touch_the_run_and_the_history_command_names_it(tmp_path: Path) -> None:
    pipeline(tmp_path, SIMPLE)
    (tmp_path / ".barque" / "history.db").mkdir(parents=True)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0 and result.json["status"] == "succeeded" and result.stderr == ""
    listed = barque("history", cwd=tmp_path)
    assert listed.code == 3 and "history.db" in listed.stderr


def test_a_locked_history_db_does_not_hold_a_run_up_and_lists_it_once_released(tmp_path: Path) -> None:
    pipeline(tmp_path, SIMPLE)
    first = run_ok("pipeline.py", cwd=tmp_path)
    assert [r["run_id"] for r in recent_runs(tmp_path / ".barque")] == [first["run_id"]]  # made the database
    holder = sqlite3.connect(tmp_path / ".barque" / "history.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = barque("run", "pipeline.py", cwd=tmp_path)
    finally:
        holder.close()
    assert result.code == 0 and result.json["steps_cached"] == 1 and result.stderr == ""
    assert {r["run_id"] for r in recent_runs(tmp_path / ".barque")} == {first["run_id"], result.json["run_id"]}


def test_history_follows_a_store_outside_the_project(tmp_path: Path) -> None:
    pipeline(tmp_path / "proj", SIMPLE)
    summary = run_ok("pipeline.py", "--store", str(tmp_path / "store"), cwd=tmp_path / "proj")
    assert not (tmp_path / "proj" / ".barque").exists()
    assert [r["run_id"] for r in recent_runs(tmp_path / "store")] == [summary["run_id"]]
    listed = barque("history", "--store", str(tmp_path / "store"), cwd=tmp_path)
    assert [r["run_id"] for r in listed.json] == [summary["run_id"]]


def test_history_of_an_s3_store_lives_in_the_local_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    where = location("s3://bucket/prefix", tmp_path / "proj")
    assert where.parent == tmp_path / "state" / "barque" / "history"
    assert location("s3://bucket/other", tmp_path / "proj") != where


def test_a_step_record_write_that_fails_warns_and_the_summary_is_printed(tmp_path: Path) -> None:
    pipeline(tmp_path, SIMPLE)
    (tmp_path / ".barque").mkdir()
    (tmp_path / ".barque" / "runs").write_text("a file where the run records' folder goes, as a full disk refuses a write")
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert (result.json["status"], result.json["final_output"]) == ("succeeded", 1)
    assert "warning" in result.stderr and "was not stored" in result.stderr


def test_a_step_raising_a_custom_base_exception_fails_alone(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        class Abort(BaseException):
            pass

        @asset()
        def aborts() -> int:
            raise Abort("stop here")

        @asset()
        def fine() -> int:
            trace("fine")
            return 1
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert result.json["failures"] == [{"step": "pipeline.py:aborts", "error": "Abort: stop here"}]
    assert (tmp_path / "ran.txt").read_text() == "fine\n"


def test_a_step_raising_keyboard_interrupt_itself_fails_alone(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset()
        def interrupts() -> int:
            raise KeyboardInterrupt("from user code, not a signal")

        @asset()
        def fine() -> int:
            return 1
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert result.json["status"] == "failed"
    assert result.json["failures"] == [{"step": "pipeline.py:interrupts", "error": "KeyboardInterrupt: from user code, not a signal"}]


def test_a_step_raising_an_exception_whose_str_raises_fails_alone(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        class Weird(Exception):
            def __str__(self):
                raise RuntimeError("no text for you")

        @asset()
        def weird() -> int:
            raise Weird()

        @asset()
        def fine() -> int:
            return 1
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert result.json["failures"] == [{"step": "pipeline.py:weird", "error": "Weird: <Weird: str() failed>"}]
    assert result.json["steps_executed"] == 2


def test_exec_with_a_path_traversing_run_id_is_a_clear_error(tmp_path: Path) -> None:
    result = barque("exec", "--store", str(tmp_path / "store"), "--run", "../x", "--phase", "0", cwd=tmp_path)
    assert result.code == 2
    assert "invalid run id '../x'" in result.stderr and "Traceback" not in result.stderr
