"""A failing step: retried, then failed; its dependants skipped; independent work finishes.

Real: the `barque` CLI in a child process and a local-folder store. Sleeps stay under 0.2 s.
"""

from __future__ import annotations

from pathlib import Path

from tests.pipelines import FAILS_BEFORE_A_LATER_STEP

from .clirun import barque, pipeline, ran, step_records

FAILING = """
from barque import asset

@asset()
def source() -> int:
    trace("source")
    return 3

@asset(inputs={"data": source}, retries=3, retry_backoff=0.03)
def broken(data: int) -> int:
    import time
    with open("attempts.txt", "a") as f:
        f.write(f"{time.monotonic()}\\n")
    raise ValueError(f"cannot load {data} rows")

@asset(inputs={"data": broken})
def downstream(data: int) -> int:
    trace("downstream")
    return data

@asset(inputs={"data": source})
def independent(data: int) -> int:
    trace("independent")
    return data * 2
"""


def test_failing_step_exits_1_and_reports_its_error(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILING)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    summary = result.json
    assert summary["status"] == "failed"
    assert summary["steps_failed"] == 1
    assert summary["failures"] == [{"step": "pipeline.py:broken", "error": "ValueError: cannot load 3 rows"}]
    assert "pipeline.py:broken" in result.stderr and "ValueError: cannot load 3 rows" in result.stderr


def test_failing_step_is_attempted_retries_times_with_linear_backoff(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILING)
    summary = barque("run", "pipeline.py", cwd=tmp_path).json
    times = [float(t) for t in (tmp_path / "attempts.txt").read_text().split()]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[0] >= 0.03 and gaps[1] >= 0.06, gaps
    record = step_records(tmp_path / ".barque", summary["run_id"])["pipeline.py:broken"]
    assert (record["state"], record["attempts"]) == ("failed", 3)


def test_dependants_of_a_failed_step_are_skipped_and_independent_steps_finish(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILING)
    summary = barque("run", "pipeline.py", cwd=tmp_path).json
    assert sorted(ran(tmp_path)) == ["independent", "source"]
    assert summary["steps_skipped"] == 1
    assert summary["steps_executed"] == 3  # source, independent, broken
    states = {k: r["state"] for k, r in step_records(tmp_path / ".barque", summary["run_id"]).items()}
    assert states["pipeline.py:downstream"] == "skipped"
    assert states["pipeline.py:independent"] == "succeeded"


def test_independent_stream_finishes_when_a_parallel_stream_fails(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset()
        def bad() -> int:
            raise RuntimeError("no")

        @asset(inputs={"x": bad})
        def after_bad(x: int) -> int:
            return x

        @asset()
        def good() -> int:
            trace("good")
            return 1

        @asset(inputs={"x": good})
        def after_good(x: int) -> int:
            trace("after_good")
            return x
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "2", cwd=tmp_path)
    assert result.code == 1
    assert ran(tmp_path) == ["good", "after_good"]
    assert (result.json["steps_failed"], result.json["steps_skipped"]) == (1, 1)


def test_flaky_step_succeeds_on_a_later_attempt(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os

        @asset(retries=3)
        def flaky() -> str:
            trace("flaky")
            if not os.path.exists("seen"):
                open("seen", "w").close()
                raise OSError("transient")
            return "ok"
        """,
    )
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.json["final_output"] == "ok"
    assert ran(tmp_path) == ["flaky", "flaky"]
    record = step_records(tmp_path / ".barque", result.json["run_id"])["pipeline.py:flaky"]
    assert record["attempts"] == 2


def test_timeout_stops_a_step_with_a_timeout_error(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import time

        @asset(timeout_seconds=0.05, retries=2, retry_backoff=0.02)
        def slow() -> int:
            trace("slow")
            time.sleep(5)
            return 1
        """,
    )
    result = barque("run", "pipeline.py", cwd=tmp_path, timeout=20)
    assert result.code == 1
    (failure,) = result.json["failures"]
    assert failure["step"] == "pipeline.py:slow"
    assert failure["error"].startswith("StepTimeout: timed out after 0.05 s")
    assert ran(tmp_path) == ["slow", "slow"]
    assert result.json["elapsed_seconds"] < 3


def test_failed_step_is_not_cached_and_runs_again_next_time(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILING)
    barque("run", "pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    fixed = FAILING.replace('raise ValueError(f"cannot load {data} rows")', "return data")
    pipeline(tmp_path, fixed)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert ran(tmp_path) == ["downstream"]
    assert result.json["steps_cached"] == 2


def test_step_calling_sys_exit_fails_alone(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import sys

        @asset()
        def quits() -> int:
            sys.exit(4)

        @asset()
        def fine() -> int:
            trace("fine")
            return 1
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1
    assert result.json["failures"] == [{"step": "pipeline.py:quits", "error": "SystemExit: 4"}]
    assert ran(tmp_path) == ["fine"]


def test_step_that_kills_its_worker_fails_and_the_rest_of_the_run_goes_on(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os, signal

        @asset()
        def crash() -> int:
            os.kill(os.getpid(), signal.SIGKILL)

        @asset(inputs={"x": crash})
        def after_crash(x: int) -> int:
            trace("after_crash")
            return x

        @asset()
        def good() -> int:
            trace("good")
            return 1
        """,
    )
    # One worker, one stream: crash, after_crash, then good; good must still run.
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    summary = result.json
    assert summary["failures"] == [
        {"step": "pipeline.py:crash", "error": "WorkerDied: the worker process was killed by signal 9 while running this step"}
    ]
    assert ran(tmp_path) == ["good"]
    assert (summary["steps_failed"], summary["steps_skipped"]) == (1, 1)
    assert "Traceback" not in result.stderr


def test_timeout_is_not_swallowed_by_a_steps_own_except_exception(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import time

        @asset(timeout_seconds=0.05)
        def stubborn() -> str:
            for _ in range(100):  # 1 s in all, unless the timeout stops it
                try:
                    time.sleep(0.01)
                except Exception:
                    pass
            return "finished"
        """,
    )
    result = barque("run", "pipeline.py", cwd=tmp_path, timeout=20)
    assert result.code == 1
    (failure,) = result.json["failures"]
    assert failure["error"].startswith("StepTimeout: timed out after 0.05 s")


def test_a_value_that_cannot_be_stored_fails_its_step_and_the_run_goes_on(tmp_path: Path) -> None:
    pipeline(tmp_path, """
from barque import asset

@asset()
def unstorable():
    return lambda x: x

@asset()
def fine() -> int:
    trace("fine")
    return 1
""")
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert result.json["steps_failed"] == 1 and ran(tmp_path) == ["fine"]
    assert "cannot encode" in result.json["failures"][0]["error"]


FAILS_BESIDE_A_SLOW_STREAM = """
    import time
    from barque import asset

    @asset()
    def broken() -> int:
        raise ValueError("bad input")

    @asset()
    def slow() -> int:
        trace("slow")
        time.sleep(120)
        return 1

    @asset(inputs={"s": slow})
    def after_slow(s: int) -> int:
        return s
"""


def test_fail_fast_stops_the_run_at_the_first_failure_and_cancels_the_rest(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILS_BESIDE_A_SLOW_STREAM)
    result = barque("run", "pipeline.py", "--workers", "2", "--fail-fast", cwd=tmp_path, timeout=60)
    assert result.code == 1, result.stderr
    states = {s["id"]: s["status"] for s in result.json["steps"]}
    assert states == {"pipeline.py:broken": "failed", "pipeline.py:slow": "cancelled", "pipeline.py:after_slow": "cancelled"}
    assert result.json["status"] == "failed"


def test_without_fail_fast_independent_streams_finish_after_a_failure(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILS_BESIDE_A_SLOW_STREAM.replace("time.sleep(120)", "pass"))
    result = barque("run", "pipeline.py", "--workers", "2", cwd=tmp_path)
    assert result.code == 1
    states = {s["id"]: s["status"] for s in result.json["steps"]}
    assert states == {"pipeline.py:broken": "failed", "pipeline.py:slow": "ran", "pipeline.py:after_slow": "ran"}



def test_fail_fast_stops_a_stream_at_its_failure_and_cancels_its_later_steps(tmp_path: Path) -> None:
    # One worker: both steps land in one stream, so only the stream itself can stop at the failure.
    pipeline(tmp_path, FAILS_BEFORE_A_LATER_STEP)
    result = barque("run", "pipeline.py", "--workers", "1", "--fail-fast", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert {s["id"]: s["status"] for s in result.json["steps"]} == {"pipeline.py:broken": "failed", "pipeline.py:later": "cancelled"}
    record = step_records(tmp_path / ".barque", result.json["run_id"])["pipeline.py:later"]
    # No ``by``: the worker's stream wrote it, not the runner settling what was left after the fact.
    assert record == {"step": "pipeline.py:later", "node": "pipeline.py:later", "state": "cancelled", "attempts": 0,
                      "run_id": result.json["run_id"], "reason": "not run: the run stops at its first failure (fail fast)"}


def test_without_fail_fast_a_stream_runs_its_independent_steps_after_a_failure(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILS_BEFORE_A_LATER_STEP)
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert {s["id"]: s["status"] for s in result.json["steps"]} == {"pipeline.py:broken": "failed", "pipeline.py:later": "ran"}


def test_fail_fast_cancels_the_keys_of_a_batch_node_still_waiting_for_their_call(tmp_path: Path) -> None:
    # The keys of a batch= node wait for their shared call until the end of the stream; `broken` fails first.
    pipeline(tmp_path, """
        from barque import asset, partitions

        @asset(partitions={"r": partitions(["r1", "r2", "r3"])}, batch=2)
        def scored(r: list) -> dict:
            trace("scored")
            return {k: 1 for k in r}

        @asset()
        def broken() -> int:
            raise ValueError("bad input")
    """)
    result = barque("run", "pipeline.py", "--workers", "1", "--fail-fast", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert ran(tmp_path) == []
    assert {s["id"]: s["status"] for s in result.json["steps"]} == {
        "pipeline.py:broken": "failed", **{f"pipeline.py:scored[r={k}]": "cancelled" for k in ("r1", "r2", "r3")}}
