"""Starts first: under a burst of new runs, the work that can wait (status writes of runs already
started, Events) waits until no start is under way, at most ``HOLD_SECONDS``.

Why: on a small node the operator and the API server share a few cores, and created -> first
Job is what a burst makes users wait for. A start needs one store write and one Job create; the
status write that pins its plan, that write's echo through the watch (and its reconcile) and the
run's Events cost about as much again, and none of them makes any Job exist sooner. Holding them
while starts are queued lets the starts have the CPU; they follow once the burst has passed.

What the hold delays is bounded (``HOLD_SECONDS``), and it changes nothing a decision reads: a
run whose status write waits keeps its kopf worker (kopf hands a run's next event over only once
its handler returned), so no reconcile of that run can start from the status before the write;
a restarted operator finds the Job (409) and writes the status then. Counted in the event loop
only (the handlers are coroutines); the Event posters' threads only read the count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

HOLD_SECONDS = 30.0


def is_start(body: Mapping[str, Any], memo: Any) -> bool:
    """Whether this reconcile may start the run: its status pins no run id yet, and this process
    wrote none (the echo of a start's status write is not a start)."""
    return not (body.get("status") or {}).get("runId") and not memo.get("written")


class Starts:
    """How many run starts are under way, and a way to wait until there are none."""

    def __init__(self) -> None:
        self.count = 0
        self._none: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._none is None:
            self._none = asyncio.Event()
            if self.count == 0:
                self._none.set()
        return self._none

    def begin(self) -> None:
        self.count += 1
        self._event().clear()

    def end(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._event().set()

    def busy(self) -> bool:
        return self.count > 0

    async def passed(self, timeout: float = HOLD_SECONDS) -> bool:
        """Wait until no start is under way; False when ``timeout`` came first."""
        try:
            await asyncio.wait_for(self._event().wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
