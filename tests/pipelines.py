"""Pipeline sources that tests in more than one place run, each written once: the local runner's
tests, the runner/operator parity tests and the cluster tests check the same pipeline, so a
change to it reaches them all. Plain strings (``pipeline.py`` text); no helpers or fixtures here.
"""

from __future__ import annotations

# `killed` sends its own process SIGKILL: it crashes (not fails), `after` is skipped, `source`
# and `independent` finish.
KILLED = '''
import os
import signal

from barque import asset


@asset()
def source() -> int:
    return 11


@asset(inputs={"s": source})
def killed(s: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return s


@asset(inputs={"k": killed})
def after(k: int) -> int:
    return k


@asset()
def independent() -> int:
    return 2
'''

# The source of `sales`' partition keys returns Skip: `regions` is filtered, `sales` is never
# planned, nothing fails, and `alone` runs.
FILTERED_KEY_SOURCE = '''
from barque import Skip, asset, partitions_from


@asset()
def regions() -> list:
    return Skip("no regions today")


@asset(partitions={"region": partitions_from(regions)})
def sales(region: str) -> int:
    return len(region)


@asset()
def alone() -> int:
    return 1
'''

# One step fails and three run hooks wait on the outcome: `alert` (on failure) checks the run
# report it is given, `celebrate` (on success) is not called, `pager` (always) fails itself.
HOOKED = """
from barque import asset, task

@asset()
def src() -> int:
    return 1

@asset(inputs={"s": src})
def broken(s: int) -> int:
    raise ValueError("bad row")

@task(on="failure")
def alert(run_report) -> None:
    # fails unless it got the report of this run's failure
    assert run_report["status"] == "failed", run_report
    assert run_report["failed"] == ["pipeline.py:broken"], run_report
    assert run_report["steps"]["pipeline.py:broken"]["error"] == "ValueError: bad row", run_report
    assert run_report["steps"]["pipeline.py:src"]["state"] == "succeeded", run_report

@task(on="success")
def celebrate() -> None:
    pass

@task(on="always")
def pager() -> None:
    raise RuntimeError("pager down")
"""

# `broken` fails in the first phase; `later` reads two other streams of it, so it is planned in the
# next one: under fail fast it is cancelled, under continue it runs.
FAILS_EARLY = '''
from barque import asset


@asset()
def broken() -> int:
    raise ValueError("the upstream schema changed")


@asset()
def left() -> int:
    return 1


@asset()
def right() -> int:
    return 2


@asset(inputs={"a": left, "b": right})
def later(a: int, b: int) -> int:  # reads two streams of the first phase: planned in the next one
    return a + b
'''

# With one worker (parallelism 1) both steps share one stream, `broken` first: under fail fast
# that stream stops there and `later` is cancelled without running; under Continue it runs.
FAILS_BEFORE_A_LATER_STEP = """
from barque import asset

@asset()
def broken() -> int:
    raise ValueError("bad input")

@asset()
def later() -> int:
    return 1
"""
