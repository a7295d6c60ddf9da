"""barque's Jobs, watched without kopf: one LIST and WATCH per watched scope feeding ``JobIndex``.

Why not a kopf index and handler: kopf treats every event of a Job as it treats a run's (a
worker task per object, the body wrapped, every handler's arguments built, a memo kept per
object), and a Job changes three or four times in its life (created, its Pods created, started,
ended). Under a burst of new runs that was the larger part of kopf's work per start. All the
operator needs of a Job is its ``JobView`` (by owning run) and the moment it ends, which wakes
its run (the ``barque.dev/reconcile`` annotation; that change is a run event for kopf).

The rules the kopf index kept hold here too: the first LIST is complete before any run is
reconciled (``JobIndex.wait_listed``), so a restarted operator decides from every Job that
exists; the watch then keeps the index current. A Job wakes its run once, when it is first seen
ended: by a watch event, or by a relisting after a watch gap (410 Gone, a lost connection) that
finds it ended and the last look did not; the initial listing wakes nothing (the runs' own
initial listing reconciles them). A wake-up that fails is left to the safety sweep, which finds a run
with an ended Job it has not taken in (``reconcile.resync_due``).

``JobIndex`` is pure bookkeeping (tested without servers); ``watch_jobs`` is the I/O loop, one
thread per scope (all namespaces, or each watched namespace).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from barque_operator.observed import JobView, owning_run

log = logging.getLogger(__name__)
RUN_LABEL = "barque.dev/run"
BACKOFF = (0.5, 30.0)  # seconds before watching again after a failure: doubles from the first to the second


@dataclass(frozen=True)
class Wake:
    """A run to wake because one of its Jobs ended."""

    namespace: str
    run: str  # the run's name (from the Job's owner reference)
    why: str  # the annotation's value: the Job and how it ended


@dataclass(frozen=True)
class Seen:
    """One Job as the index keeps it."""

    run_uid: str
    run_name: str | None
    view: JobView


def owner_name(job: Mapping[str, Any]) -> str | None:
    """The name of the PipelineRun that owns ``job``."""
    for ref in job["metadata"].get("ownerReferences") or ():
        if ref.get("kind") == "PipelineRun" and ref.get("uid") == owning_run(job):
            name: str | None = ref.get("name")
            return name
    return None


def _seen(job: Mapping[str, Any]) -> Seen | None:
    uid = owning_run(job)
    return Seen(uid, owner_name(job), JobView.from_job(job)) if uid else None


def _wake(namespace: str, seen: Seen, before: Seen | None) -> Wake | None:
    """The wake-up a Job's change calls for: it has ended, and was not seen ended before."""
    if not seen.view.finished or seen.run_name is None or (before is not None and before.view.finished):
        return None
    return Wake(namespace, seen.run_name, f"{seen.view.name}:{seen.view.outcome}")


class JobIndex:
    """barque's Jobs by owning run uid, kept by the watch threads, read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], Seen] = {}  # (namespace, name) -> what was seen last
        self._by_run: dict[str, dict[str, JobView]] = {}  # run uid -> Job name -> view
        self._listed: set[str | None] = set()  # scopes whose first LIST is in
        self._scopes: frozenset[str | None] = frozenset()
        self._all_listed = threading.Event()

    def expect(self, scopes: Iterable[str | None]) -> None:
        """The scopes (None: all namespaces) whose first LIST must be in before ``listed``."""
        self._scopes = frozenset(scopes)

    def listed(self) -> bool:
        return self._all_listed.is_set()

    def wait_listed(self, timeout: float | None = None) -> bool:
        return self._all_listed.wait(timeout)

    def jobs_of(self, run_uid: str) -> dict[int, JobView]:
        """The run's Jobs by phase index (a copy)."""
        with self._lock:
            return {v.phase: v for v in self._by_run.get(run_uid, {}).values()}

    def __len__(self) -> int:
        return len(self._jobs)

    def _put(self, key: tuple[str, str], seen: Seen | None) -> Seen | None:
        before = self._jobs.pop(key, None)
        if before is not None:
            views = self._by_run.get(before.run_uid, {})
            views.pop(key[1], None)
            if not views:
                self._by_run.pop(before.run_uid, None)
        if seen is not None:
            self._jobs[key] = seen
            self._by_run.setdefault(seen.run_uid, {})[key[1]] = seen.view
        return before

    def apply(self, kind: str, job: Mapping[str, Any]) -> Wake | None:
        """One watch event (ADDED, MODIFIED, DELETED); the run to wake, if the Job was just seen ended."""
        meta = job["metadata"]
        key = (meta["namespace"], meta["name"])
        seen = None if kind == "DELETED" else _seen(job)
        with self._lock:
            before = self._put(key, seen)
        return _wake(key[0], seen, before) if seen is not None else None

    def replace(self, scope: str | None, jobs: Iterable[Mapping[str, Any]]) -> list[Wake]:
        """A LIST of the scope (None: all namespaces) in place of what was known of it; the runs
        whose Jobs ended unseen meanwhile (none on the scope's first LIST)."""
        fresh = {(j["metadata"]["namespace"], j["metadata"]["name"]): _seen(j) for j in jobs}
        wakes = []
        with self._lock:
            first = scope not in self._listed
            for key in [k for k in self._jobs if scope is None or k[0] == scope]:
                if key not in fresh:
                    self._put(key, None)
            for key, seen in fresh.items():
                before = self._put(key, seen)
                wake = None if first or seen is None else _wake(key[0], seen, before)
                if wake is not None:
                    wakes.append(wake)
            self._listed.add(scope)
            if self._scopes <= self._listed:
                self._all_listed.set()
        return wakes


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


def watch_jobs(index: JobIndex, scope: str | None, list_jobs: Callable[[str | None], tuple[list[dict[str, Any]], str]],
               watch: Callable[[str | None, str], Iterator[dict[str, Any]]], wake: Callable[[Wake], None],
               stop: threading.Event) -> None:
    """LIST the scope, then WATCH from that version, forever (until ``stop``): each event into the
    index, each wake-up it calls for handed to ``wake``. A stream that ends is watched again from
    the last version seen (bookmarks keep it recent); a 410 or a failure lists again first."""
    version: str | None = None
    pause = BACKOFF[0]
    while not stop.is_set():
        try:
            if version is None:
                items, version = list_jobs(scope)
                for w in index.replace(scope, items):
                    wake(w)
            for event in watch(scope, version):
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise Gone(obj.get("message")) if obj.get("code") == 410 else RuntimeError(obj.get("message"))
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    woken = index.apply(kind, obj)
                    if woken is not None:
                        wake(woken)
                pause = BACKOFF[0]
        except Gone:
            version = None
        except Exception as err:  # a lost connection, a refused request: list again after a pause
            log.warning("the watch of Jobs (%s) failed, listing again in %.1f s: %s", scope or "all namespaces", pause, err)
            version = None
            stop.wait(pause)
            pause = min(pause * 2, BACKOFF[1])


def start(index: JobIndex, scopes: Iterable[str | None], list_jobs: Callable[[str | None], tuple[list[dict[str, Any]], str]],
          watch: Callable[[str | None, str], Iterator[dict[str, Any]]], wake: Callable[[Wake], None],
          stop: threading.Event) -> list[threading.Thread]:
    """One watch thread per scope (daemons: the process's end ends them)."""
    scopes = tuple(scopes)
    index.expect(scopes)
    threads = []
    for scope in scopes:
        thread = threading.Thread(target=watch_jobs, args=(index, scope, list_jobs, watch, wake, stop),
                                  name=f"barque-jobwatch-{scope or 'all'}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
