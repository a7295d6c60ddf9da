"""Errors for people: exit 2, a message naming what is wrong and what to do, nothing stored lost.

Real: the `barque` CLI in a child process and a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, run_ok, write

PIPE = """
from barque import asset

@asset()
def numbers() -> list:
    return [1, 2]

@asset(inputs={"nums": numbers})
def summary(nums: list) -> int:
    return sum(nums)
"""


def test_unknown_target_exits_2_suggests_a_name_and_loses_nothing(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    run_ok("pipeline.py", cwd=tmp_path)
    result = barque("run", "pipeline.py", "sumary", cwd=tmp_path)
    assert result.code == 2
    assert result.stdout == ""
    assert "unknown target 'sumary'" in result.stderr
    assert "did you mean summary" in result.stderr and "barque list" in result.stderr
    assert run_ok("pipeline.py", cwd=tmp_path)["steps_cached"] == 2


def test_parse_error_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    run_ok("pipeline.py", cwd=tmp_path)
    write(tmp_path, "pipeline.py", "from barque import asset\n\n@asset()\ndef broken(:\n    return 1\n")
    result = barque("run", "pipeline.py", "--pretty", cwd=tmp_path)
    assert result.code == 2
    assert result.stdout == ""
    assert "pipeline.py:4" in result.stderr and "syntax error" in result.stderr
    assert "hint:" in result.stderr
    assert (tmp_path / ".barque" / "cache").is_dir()


def test_bad_param_exits_2_and_shows_the_expected_form(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    result = barque("run", "pipeline.py", "--param", "day", cwd=tmp_path)
    assert result.code == 2
    assert result.stdout == ""
    assert "--param 'day' is not KEY=VALUE" in result.stderr and "--param date=2026-01-01" in result.stderr


def test_missing_pipeline_file_exits_2_naming_the_path(tmp_path: Path) -> None:
    result = barque("run", "nothere.py", cwd=tmp_path)
    assert result.code == 2
    assert "nothere.py" in result.stderr and "no such file" in result.stderr
    assert "Traceback" not in result.stderr
