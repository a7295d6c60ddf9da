"""A step runs the code its cache key was made from, even when a stale `.pyc` says otherwise.

Python trusts a cached `.pyc` whose recorded mtime (to the second) and size match the source.
Real: the `barque` CLI in a child process; the edit keeps the file's size and mtime, as an edit
within the same second does.
"""

from __future__ import annotations

import os
import py_compile
from pathlib import Path

from .clirun import run_ok, write

SOURCE = """
from barque import asset

RATE = {rate}


@asset()
def price() -> int:
    return 100 * RATE
"""


def test_an_edit_that_keeps_size_and_mtime_runs_the_new_code(tmp_path: Path):
    path = write(tmp_path, "pipeline.py", SOURCE.format(rate=2))
    py_compile.compile(str(path))  # the __pycache__ entry a `python pipeline.py` would leave
    assert run_ok("pipeline.py", cwd=tmp_path)["final_output"] == 200
    stat = path.stat()
    write(tmp_path, "pipeline.py", SOURCE.format(rate=3))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert run_ok("pipeline.py", cwd=tmp_path)["final_output"] == 300


def test_workers_leave_no_bytecode_in_the_project(tmp_path: Path):
    write(tmp_path, "pipeline.py", SOURCE.format(rate=2))
    write(tmp_path, "helpers.py", "def double(x):\n    return 2 * x\n")
    run_ok("pipeline.py", cwd=tmp_path, env={"PYTHONDONTWRITEBYTECODE": ""})
    assert not (tmp_path / "__pycache__").exists()
