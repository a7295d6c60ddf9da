"""``async def`` assets and tasks: run on an event loop, cancelled at their timeout, mixed with sync steps.

Real: the `barque` CLI in a child process and a local-folder store. Sleeps stay under 0.5 s.
"""

from __future__ import annotations

import functools
import inspect
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import pytest

from barque_runtime.asyncsteps import is_async

from .clirun import barque, pipeline, ran, run_ok

ASYNC = """
import asyncio
from barque import asset, task

@asset()
async def fetched() -> int:
    trace("fetched")
    await asyncio.sleep(0.01)
    return 41

@asset(inputs={"n": fetched})
def plus(n: int) -> int:
    trace("plus")
    return n + 1

@asset(inputs={"n": plus})
async def doubled(n: int) -> int:
    await asyncio.sleep(0)
    return n * 2

@task(inputs={"n": fetched}, timeout_seconds=0.3)
async def slow(n: int) -> None:
    try:
        await asyncio.sleep(5)
    finally:
        with open("cleaned-up.txt", "w") as f:
            f.write("finally ran")
"""


def test_async_asset_value_reaches_a_sync_dependant_and_an_async_one(tmp_path: Path) -> None:
    pipeline(tmp_path, ASYNC)
    summary = run_ok("pipeline.py", "doubled", cwd=tmp_path)
    assert summary["final_output"] == 84


def test_async_asset_is_cached_like_a_sync_one(tmp_path: Path) -> None:
    pipeline(tmp_path, ASYNC)
    run_ok("pipeline.py", "doubled", cwd=tmp_path)
    ran(tmp_path)
    summary = run_ok("pipeline.py", "doubled", cwd=tmp_path)
    assert ran(tmp_path) == []
    assert summary["steps_cached"] == 3


def test_async_task_past_its_timeout_is_cancelled_and_fails_with_a_clear_error(tmp_path: Path) -> None:
    pipeline(tmp_path, ASYNC)
    result = barque("run", "pipeline.py", "slow", cwd=tmp_path)
    assert result.code == 1
    assert result.json["failures"] == [
        {"step": "pipeline.py:slow", "error": "StepTimeout: timed out after 0.3 s (timeout_seconds); its coroutine was cancelled"}
    ]
    assert (tmp_path / "cleaned-up.txt").read_text() == "finally ran"  # cancelled, not abandoned


def test_async_step_that_raises_is_retried_like_a_sync_one(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset(retries=2, retry_backoff=0.01)
        async def flaky() -> str:
            trace("flaky")
            import os
            if not os.path.exists("once"):
                open("once", "w").close()
                raise RuntimeError("first attempt fails")
            return "ok"
        """,
    )
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["final_output"] == "ok"
    assert ran(tmp_path) == ["flaky", "flaky"]


def test_an_async_step_that_blocks_its_event_loop_is_still_stopped_past_its_timeout(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        import time
        from barque import asset

        @asset(timeout_seconds=0.2)
        async def blocking() -> int:
            time.sleep(30)  # not awaitable: the loop cannot cancel it, the backstop alarm stops it
            return 1
        """,
    )
    result = barque("run", "pipeline.py", cwd=tmp_path, timeout=20)
    assert result.code == 1
    assert result.json["failures"][0]["error"].startswith("StepTimeout: timed out after 0.2 s (timeout_seconds)")


async def _coroutine(x: int = 0) -> int:
    return x


async def _agen() -> AsyncIterator[int]:
    yield 1


def _plain(x: int = 0) -> int:
    return x


def _generator() -> Iterator[int]:
    yield 1


class _Holder:
    async def method(self) -> None:
        pass

    def sync(self) -> None:
        pass


@pytest.mark.parametrize("fn", [
    _coroutine, _agen, _plain, _generator, _Holder().method, _Holder().sync, partial(_coroutine, 1), partial(partial(_agen)),
    partial(_plain, 1), _Holder.method, len, _Holder, lambda: None, functools.wraps(_coroutine)(lambda: None),
])
def test_a_step_is_async_exactly_when_inspect_says_so(fn: Callable[..., Any]) -> None:
    # asyncsteps reads the code flags itself so that a run does not import inspect (test_cold_run_imports)
    assert is_async(fn) == (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn))
