"""Kubernetes Events, posted off the reconcile path: a bounded queue drained by a few threads.

Events are advisory: no decision reads them, and a run's status is its record. A reconcile that
waited for its Events to be accepted would hold one of kopf's worker threads for up to four
extra API round trips per run, and under a burst of new runs those threads are what starting
runs waits for. So ``EventRecorder.record`` only queues, and its posters send at the lowest
priority of the API gate (``Priority.EVENT``), behind every Job create and status write, and at
most ``qps`` a second of their own (each Event is a write the API server stores in etcd, and a
burst of them would slow the Job creates of the same moment). While ``hold()`` says runs are
starting (a burst; ``startfirst``) the posters wait, at most ``max_hold`` seconds per Event: a
poster's CPU and the API server's write for an Event are taken from the starts, which on a
small node share the same cores; the Events follow once the burst has passed. When the queue is full (the API
server cannot keep up) the newest Event is dropped and counted in ``barque_events_dropped_total``,
as client-go's recorder drops Events rather than block a controller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from barque_operator.kube import Priority, RequestGate

log = logging.getLogger(__name__)
QUEUE_LIMIT = 5000  # four Events per run for a burst of 1,250 runs; about 2 MiB


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about: only what ``involvedObject`` needs (not the whole body)."""

    api_version: str | None
    kind: str | None
    namespace: str
    name: str
    uid: str | None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "ObjectRef":
        meta = obj["metadata"]
        return cls(obj.get("apiVersion"), obj.get("kind"), meta["namespace"], meta["name"], meta.get("uid"))


@dataclass(frozen=True)
class PendingEvent:
    ref: ObjectRef
    type: str
    reason: str
    message: str
    queued: float = 0.0  # time.monotonic() when it was queued


class EventRecorder:
    """Queues Events and posts them with ``post`` from ``posters`` daemon threads, started on first use."""

    def __init__(self, post: Callable[[PendingEvent], None], on_drop: Callable[[], None] = lambda: None,
                 limit: int = QUEUE_LIMIT, posters: int = 2, qps: float = 20.0,
                 hold: Callable[[], bool] = lambda: False, max_hold: float = 30.0) -> None:
        self._post, self._on_drop, self._limit, self._posters = post, on_drop, limit, posters
        self._hold, self._max_hold = hold, max_hold
        self._pace = RequestGate(posters, qps)
        self._queue: deque[PendingEvent] = deque()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._busy = 0

    def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> bool:
        """Queue an Event on ``obj``; False when it was dropped (the queue is full). Never blocks on the API."""
        event = PendingEvent(ObjectRef.of(obj), type_, reason, message, time.monotonic())
        with self._cond:
            if len(self._queue) >= self._limit:
                self._on_drop()
                return False
            self._queue.append(event)
            if not self._threads:
                self._start()
            self._cond.notify()
        return True

    def drain(self, timeout: float) -> bool:
        """Wait until every queued Event was handed to ``post``; False on timeout (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout=timeout)

    def _start(self) -> None:
        for i in range(self._posters):
            thread = threading.Thread(target=self._loop, name=f"barque-events-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                event = self._queue.popleft()
                self._busy += 1
            try:
                while self._hold() and time.monotonic() - event.queued < self._max_hold:
                    time.sleep(0.1)
                with self._pace.slot(Priority.EVENT):
                    self._post(event)
            except Exception as err:  # an Event lost is not worth a poster thread
                log.warning("could not post event %s on %s/%s: %s", event.reason, event.ref.namespace,
                            event.ref.name, err)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()
