"""Run what an ``async def`` step returns on an event loop of its own, under the step's timeout.

A coroutine is awaited with ``asyncio.wait_for``: at ``timeout_seconds`` it is *cancelled*
(its ``finally`` blocks and ``async with`` exits run) and the step fails with ``StepTimeout``.
An async generator (``async def rows(): yield ...``) becomes a plain iterator whose every
item is awaited on one loop against the same overall deadline, so a streaming async step
is written to the store chunk by chunk like a sync generator. Each attempt gets a fresh
loop, closed after it, so nothing scheduled by one attempt leaks into the next.

``asyncio`` is imported only when a step's result is async: with what it pulls in (``ssl``,
``socket``, ``concurrent.futures``, ``logging``, ``subprocess``) it was about a tenth of every
cold run's CPU, for the steps of every run that has no async step (bench/FINDINGS.md).
"""

from __future__ import annotations

import time
import types
from functools import partial
from typing import Any, AsyncIterator, Callable, Coroutine, Iterator

# The SIGALRM deadline of an async step fires this much after the loop's own timeout: it is
# only the backstop for a coroutine that blocks the loop (time.sleep), which cannot be cancelled.
BACKSTOP_SECONDS = 2.0

# The code flags of an ``async def`` (inspect.CO_COROUTINE, CO_ASYNC_GENERATOR), read here as
# ``inspect`` reads them: ``inspect`` (with ``dis``) was ~6 ms of every cold run once nothing
# else on a run's path imported it (bench/FINDINGS.md, issue 11).
_ASYNC_FLAGS = 0x80 | 0x200


def is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` gives a coroutine or an async generator, as ``inspect.iscoroutinefunction``
    or ``inspect.isasyncgenfunction`` says: through bound methods and ``functools.partial``."""
    while isinstance(fn, types.MethodType):
        fn = fn.__func__
    while isinstance(fn, partial):
        fn = fn.func
    return isinstance(fn, types.FunctionType) and bool(fn.__code__.co_flags & _ASYNC_FLAGS)


def alarm_seconds(fn: Callable[..., Any], timeout: float | None) -> float | None:
    """The SIGALRM deadline for calling ``fn``: the timeout itself, later for an async step."""
    if not timeout:
        return None
    return timeout + BACKSTOP_SECONDS if is_async(fn) else timeout


def settle(result: Any, timeout: float | None, on_timeout: Callable[[float], BaseException]) -> Any:
    """``result`` awaited when it is a coroutine, made a sync iterator when an async generator, else as it is."""
    if isinstance(result, types.CoroutineType):
        return _await(result, timeout, on_timeout)
    if isinstance(result, types.AsyncGeneratorType):
        return _iterate(result, timeout, on_timeout)
    return result


def _await(coro: Coroutine[Any, Any, Any], timeout: float | None, on_timeout: Callable[[float], BaseException]) -> Any:
    import asyncio

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout) if timeout else await coro

    try:
        return asyncio.run(bounded())
    except asyncio.TimeoutError:
        assert timeout is not None
        raise on_timeout(timeout) from None


def _iterate(agen: AsyncIterator[Any], timeout: float | None, on_timeout: Callable[[float], BaseException]) -> Iterator[Any]:
    import asyncio

    loop = asyncio.new_event_loop()
    deadline = time.monotonic() + timeout if timeout else None
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = loop.run_until_complete(asyncio.wait_for(agen.__anext__(), left))
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError:
                assert timeout is not None
                raise on_timeout(timeout) from None
            yield item
    finally:
        try:
            loop.run_until_complete(agen.aclose())  # type: ignore[attr-defined]
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
