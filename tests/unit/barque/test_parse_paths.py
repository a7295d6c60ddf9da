"""Discovery never blocks and never crashes on odd files (issue 7, item 10): a named pipe
called ``x.py`` is skipped without being opened for a blocking read, and a symbolic-link
loop is skipped in a directory walk or, when named, is a definition error.

Real parts: the parser on a temporary directory with real FIFOs and links; the ``barque``
CLI in a child process where the hang would show.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..runtime.clirun import barque
from .fixtures.parse import parse_error, write

PIPELINE = "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n"

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")


@needs_fifo
def test_a_named_pipe_called_x_py_does_not_hang_discovery(tmp_path: Path) -> None:
    write(tmp_path, {"pipeline.py": PIPELINE})
    os.mkfifo(tmp_path / "x.py")  # nobody ever writes to it: a blocking read would wait forever
    result = barque("plan", ".", cwd=tmp_path, timeout=30)
    assert result.code == 0, result.stderr
    assert result.json["targets"] == ["pipeline.py:a"]


@needs_fifo
def test_a_named_pipe_named_on_the_command_line_is_a_definition_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.py")
    result = barque("plan", "x.py", cwd=tmp_path, timeout=30)
    assert result.code == 2
    assert "x.py: not a regular file" in result.stderr and "Traceback" not in result.stderr


@needs_fifo
def test_a_named_pipe_imported_as_a_module_is_not_read(tmp_path: Path) -> None:
    write(tmp_path, {"pipeline.py": "import x\n" + PIPELINE})
    os.mkfifo(tmp_path / "x.py")
    result = barque("plan", "pipeline.py", cwd=tmp_path, timeout=30)
    assert result.code == 0, result.stderr


def test_a_symlink_loop_in_the_project_is_skipped_by_the_walk(tmp_path: Path) -> None:
    write(tmp_path, {"pipeline.py": PIPELINE})
    (tmp_path / "x.py").symlink_to("y.py")
    (tmp_path / "y.py").symlink_to("x.py")
    result = barque("plan", ".", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.json["targets"] == ["pipeline.py:a"]


def test_a_symlink_loop_named_on_the_command_line_is_a_definition_error(tmp_path: Path) -> None:
    (tmp_path / "x.py").symlink_to("y.py")
    (tmp_path / "y.py").symlink_to("x.py")
    err = parse_error(tmp_path, "x.py")
    assert err.where is not None and err.where.endswith("x.py")
    assert "cannot follow the path" in err.message and "points (through others) back to itself" in (err.hint or "")


def test_a_symlink_loop_named_on_the_command_line_exits_2_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "x.py").symlink_to("y.py")
    (tmp_path / "y.py").symlink_to("x.py")
    result = barque("plan", "x.py", cwd=tmp_path)
    assert result.code == 2 and "Traceback" not in result.stderr and "cannot follow the path" in result.stderr
