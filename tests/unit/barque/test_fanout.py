"""``parallel`` / ``parallel_map``: fan-out inside a step, with barca's semantics.

Real: forked child processes, the file system and signals; nothing is simulated.
"""

from __future__ import annotations

import datetime
import os
import time
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from barque import BranchResultError, ParallelError, parallel, parallel_map
from barque import fanout
from barque.fanout import branches_at_once, running_step
from barque_runtime.calling import raising_after


class Point:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x


def square(x: int) -> int:
    return x * x


def sleep_then(value: int, seconds: float) -> int:
    time.sleep(seconds)
    return value


def fail(message: str) -> None:
    raise RuntimeError(message)


def test_results_come_back_in_argument_order_whatever_order_branches_end():
    assert parallel(partial(sleep_then, 1, 0.2), partial(sleep_then, 2, 0.0), partial(sleep_then, 3, 0.1)) == [1, 2, 3]


def test_parallel_map_runs_one_branch_per_item():
    assert parallel_map(square, [1, 2, 3, 4]) == [1, 4, 9, 16]


def test_no_branches_give_an_empty_list():
    assert parallel() == [] and parallel_map(square, []) == []


def test_a_branch_that_raises_comes_back_as_a_parallel_error_and_the_caller_goes_on():
    results = parallel(partial(square, 3), partial(fail, "region unavailable"))
    assert results[0] == 9
    error = results[1]
    assert isinstance(error, ParallelError) and error.index == 1
    assert error.error.type == "RuntimeError" and error.error.message == "region unavailable"
    assert "in fail" in error.error.traceback


def test_values_come_back_equal_and_of_the_same_type():
    value = {"when": datetime.date(2026, 1, 2), "zones": {"a", "b"}, "point": Point(3), "none": None}
    assert parallel(lambda: value) == [value]


def test_a_none_result_stays_none():
    assert parallel(lambda: None) == [None]


def test_a_result_that_cannot_be_passed_back_fails_the_caller_naming_branch_and_type(tmp_path: Path):
    with pytest.raises(BranchResultError, match=r"branch 1 returned a _io\.TextIOWrapper, which cannot be passed back"):
        parallel(lambda: 1, lambda: open(tmp_path / "f", "w"))


def test_a_branch_whose_process_dies_comes_back_as_a_crash():
    [error] = parallel(partial(os._exit, 3))
    assert isinstance(error, ParallelError)
    assert error.error.type == "BranchCrashed" and "exit code 3" in error.error.message


def test_a_branch_exception_whose_str_raises_is_still_reported():
    class Nasty(Exception):
        def __str__(self) -> str:
            raise ValueError("no")

    def raise_nasty() -> None:
        raise Nasty()

    [error] = parallel(raise_nasty)
    assert isinstance(error, ParallelError) and error.error.type == "Nasty"


def test_a_branch_past_the_time_limit_comes_back_as_a_timeout(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(fanout, "BRANCH_TIMEOUT_SECONDS", 0.2)
    started = time.monotonic()
    [error] = parallel(partial(time.sleep, 30))
    assert isinstance(error, ParallelError) and error.error.type == "TimeoutError"
    assert time.monotonic() - started < 10


def test_a_non_callable_argument_is_a_type_error_that_says_what_to_pass():
    with pytest.raises(TypeError, match="functools.partial"):
        parallel(1)  # type: ignore[arg-type]


def _record_span(folder: Path, name: str) -> None:
    start = time.monotonic()
    (folder / f"started-{name}").touch()
    deadline = start + 2
    while len(list(folder.glob("started-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    (folder / f"span-{name}").write_text(f"{start} {time.monotonic()}")


def _overlapping(folder: Path) -> bool:
    spans = [tuple(map(float, p.read_text().split())) for p in folder.glob("span-*")]
    return any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])


def test_branches_run_at_the_same_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BARQUE_PARALLEL_SLOTS", "2")
    parallel(partial(_record_span, tmp_path, "a"), partial(_record_span, tmp_path, "b"))
    assert _overlapping(tmp_path)


def test_no_more_branches_run_at_once_than_there_are_slots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BARQUE_PARALLEL_SLOTS", "1")
    parallel(partial(_record_span, tmp_path, "a"), partial(_record_span, tmp_path, "b"))
    assert not _overlapping(tmp_path)


def test_a_heavy_step_runs_as_many_branches_at_once_as_its_weight_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BARQUE_PARALLEL_SLOTS", "4")
    with running_step(2):
        assert branches_at_once() == 2
        parallel(partial(_record_span, tmp_path, "a"), partial(_record_span, tmp_path, "b"))
    assert _overlapping(tmp_path)


def test_branches_of_a_step_heavier_than_half_the_slots_run_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BARQUE_PARALLEL_SLOTS", "4")
    with running_step(3):
        parallel(partial(_record_span, tmp_path, "a"), partial(_record_span, tmp_path, "b"))
    assert not _overlapping(tmp_path)


@given(st.integers(1, 64), st.integers(1, 64))
def test_branches_at_once_is_the_slots_the_weight_fits_and_never_zero(slots: int, weight: int):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BARQUE_PARALLEL_SLOTS", str(slots))
        with running_step(weight):
            assert branches_at_once() == max(1, slots // weight)
        assert branches_at_once() == slots  # outside a step every branch weighs 1


def test_a_branch_may_fan_out_again():
    assert parallel(lambda: parallel_map(square, [2, 3])) == [[4, 9]]


def test_a_branch_prints_once_and_the_callers_earlier_output_is_not_repeated(capfd: pytest.CaptureFixture[str]):
    print("before", end=" ")  # still buffered when the branch forks
    parallel(lambda: print("inside"))
    out = capfd.readouterr().out
    assert out.count("before") == 1 and out.count("inside") == 1


class _Interrupted(Exception):
    pass


def test_an_interrupted_caller_leaves_no_branch_running(tmp_path: Path):
    def record_pid_then_sleep() -> None:
        (tmp_path / f"pid-{os.getpid()}").touch()
        time.sleep(30)

    with pytest.raises(_Interrupted), raising_after(0.5, _Interrupted):
        parallel(record_pid_then_sleep, record_pid_then_sleep)
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("pid-*")]
    assert pids
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_temporary_folder_of_a_call_is_removed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(fanout.tempfile, "tempdir", None)
    parallel(partial(square, 2), partial(fail, "x"))
    assert list(tmp_path.iterdir()) == []
