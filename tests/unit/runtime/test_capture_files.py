"""Where a step's output is captured: a nameless file per stream of each attempt.

Real: the file descriptors of this process (the capture redirects fd 1 and 2).
"""

from __future__ import annotations

import os

import pytest

from barque_runtime import calling


def test_a_capture_file_is_a_new_empty_file_each_time() -> None:
    first, second = calling._capture_file("stdout"), calling._capture_file("stdout")
    os.write(first, b"left behind")
    assert os.fstat(first).st_ino != os.fstat(second).st_ino
    assert calling._read_capture(second) == b""
    assert calling._read_capture(first) == b"left behind"


def test_a_capture_is_read_whole_from_its_start_and_closed() -> None:
    fd = calling._capture_file("stdout")
    os.write(fd, b"a" * (3 << 20))  # more than one pread's worth; the file offset is at its end
    assert calling._read_capture(fd) == b"a" * (3 << 20)
    with pytest.raises(OSError):
        os.fstat(fd)


def test_what_an_attempt_prints_at_the_fd_level_is_captured() -> None:
    with calling._captured() as out:
        os.write(1, b"to fd 1\n")
        os.write(2, b"to fd 2\n")
    assert (out["stdout"], out["stderr"]) == (b"to fd 1\n", b"to fd 2\n")


def test_a_system_that_refuses_memfd_captures_in_a_temporary_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(name: str, flags: int = 0) -> int:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "memfd_create", refused, raising=False)
    fd = calling._capture_file("stderr")
    os.write(fd, b"x")
    assert calling._read_capture(fd) == b"x"
