"""Leader election on a ``coordination.k8s.io`` Lease, so that of several operator replicas exactly one acts.

kopf's peering is not enough for that: replicas of equal priority all keep acting (kopf only
warns), and a replica that starts sees its peers only after their next keep-alive. A Lease is the
Kubernetes way, and this follows client-go's leader election:

- A replica acts only while it holds the Lease. It renews it every ``retry_seconds``; if no
  renewal succeeded for ``renew_deadline_seconds`` (shorter than the Lease's
  ``lease_seconds``) it stops at once (``os._exit``, crash-only: the Deployment restarts it as a
  standby), before any other replica may take the Lease over.
- A standby runs no kopf at all (no watch, no handler, no memory of runs); it reads the Lease
  every ``retry_seconds`` and takes it when it has not changed for ``lease_seconds`` as measured
  by its own clock since it last saw it change, never by the holder's timestamps, so clock skew
  between nodes cannot hand the Lease over early.
- Every write is a compare-and-swap on the Lease's ``resourceVersion``: of two standbys taking
  an expired Lease, one wins and the other reads a 409 and keeps waiting.
- A leader that stops on purpose (SIGTERM) releases the Lease, so a standby takes over within
  ``retry_seconds`` instead of ``lease_seconds``.

Even so, exactly one acts only in the sense every leader election gives: a leader cut off from
the API server for longer than the deadline has stopped by the time another starts, but a
request it sent just before stopping may still land. That is harmless here because every action
is idempotent (deterministic Job names: a second create is a 409).

``decide`` is the pure part; ``Elector`` carries it out through ``kube.Leases``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Literal, Mapping, Protocol

log = logging.getLogger(__name__)
Verdict = Literal["acquire", "renew", "wait", "lost"]


@dataclass(frozen=True)
class LeaseState:
    """What a Lease says (``spec``), and its ``resourceVersion`` for the compare-and-swap."""

    holder: str | None
    renew_time: str | None
    transitions: int
    resource_version: str | None

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> "LeaseState":
        spec = lease.get("spec") or {}
        return cls(spec.get("holderIdentity") or None, spec.get("renewTime"), int(spec.get("leaseTransitions") or 0),
                   (lease.get("metadata") or {}).get("resourceVersion"))


@dataclass(frozen=True)
class Observed:
    """A Lease as a replica saw it, and when (its own monotonic clock) it last saw it change."""

    state: LeaseState | None
    changed_at: float


def decide(me: str, seen: Observed, now: float, lease_seconds: float, leading: bool) -> Verdict:
    """What replica ``me`` does next, from the Lease as it last read it.

    ``acquire``: it is free (none, released, or unchanged for ``lease_seconds``); ``renew``: it is
    ours; ``lost``: we were leading and someone else holds it now; ``wait``: another holds it."""
    state = seen.state
    if state is not None and state.holder == me:
        return "renew"
    if leading:
        return "lost"
    if state is None or state.holder is None or now - seen.changed_at >= lease_seconds:
        return "acquire"
    return "wait"


def micro_time(now: datetime | None = None) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_body(name: str, namespace: str, me: str, lease_seconds: float, previous: LeaseState | None,
               now: str) -> dict[str, Any]:
    """The Lease ``me`` writes to take or renew it (with the resourceVersion it read, when there was one)."""
    taking = previous is None or previous.holder != me
    transitions = (previous.transitions if previous else 0) + (1 if previous is not None and taking else 0)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if previous is not None and previous.resource_version:
        metadata["resourceVersion"] = previous.resource_version
    spec = {"holderIdentity": me, "leaseDurationSeconds": max(1, int(round(lease_seconds))), "renewTime": now,
            "leaseTransitions": transitions}
    if taking:
        spec["acquireTime"] = now
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


class Leases(Protocol):
    """What the elector needs from the API (``kube.Kube`` provides it; tests pass a fake). A create
    or replace that loses the compare-and-swap (409) returns ``None``."""

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None: ...
    def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class ElectionSettings:
    name: str
    namespace: str
    identity: str
    lease_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_seconds: float = 2.0


class Elector:
    """Takes the Lease (``acquire``, blocking), then keeps it in a thread (``keep``)."""

    def __init__(self, api: Leases, settings: ElectionSettings, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, on_lost: Callable[[str], None] | None = None) -> None:
        if not settings.renew_deadline_seconds < settings.lease_seconds:
            raise ValueError("the renew deadline must be shorter than the lease, or two replicas could act at once")
        self.api, self.s, self.clock, self.sleep = api, settings, clock, sleep
        self.on_lost = on_lost or _exit_now
        self.seen = Observed(None, clock())
        self.leading = False
        self._stop = threading.Event()

    def _read(self) -> None:
        lease = self.api.get_lease(self.s.namespace, self.s.name)
        state = LeaseState.from_lease(lease) if lease is not None else None
        if self.seen.state is None or state is None or (state.holder, state.renew_time) != (
                self.seen.state.holder, self.seen.state.renew_time):
            self.seen = Observed(state, self.clock())
        else:
            self.seen = Observed(state, self.seen.changed_at)

    def _write(self) -> bool:
        """Take or renew the Lease; False when another writer won the compare-and-swap."""
        body = lease_body(self.s.name, self.s.namespace, self.s.identity, self.s.lease_seconds, self.seen.state,
                          micro_time())
        if self.seen.state is None:
            written = self.api.create_lease(self.s.namespace, body)
        else:
            written = self.api.replace_lease(self.s.namespace, self.s.name, body)
        if written is None:
            return False
        self.seen = Observed(LeaseState.from_lease(written), self.clock())
        return True

    def step(self) -> Verdict:
        """One round: read the Lease, decide, write when the decision is to take or renew it."""
        self._read()
        verdict = decide(self.s.identity, self.seen, self.clock(), self.s.lease_seconds, self.leading)
        if verdict not in ("acquire", "renew"):
            return verdict
        if not self._write():  # another writer came first (or our own write's answer was lost): read again
            return "wait"
        self.leading = True
        return verdict

    def acquire(self) -> None:
        """Block until this replica holds the Lease."""
        log.info("leader election: %s waits for Lease %s/%s", self.s.identity, self.s.namespace, self.s.name)
        while not self._stop.is_set():
            try:
                if self.step() in ("acquire", "renew"):
                    log.info("leader election: %s holds Lease %s/%s", self.s.identity, self.s.namespace, self.s.name)
                    return
            except Exception as err:  # the API server restarting: keep waiting
                log.warning("leader election: cannot read Lease %s/%s: %s", self.s.namespace, self.s.name, err)
            self.sleep(self.s.retry_seconds)

    def renew_until_lost(self) -> None:
        """Renew every ``retry_seconds``; call ``on_lost`` when the Lease is another's or no renewal
        succeeded for ``renew_deadline_seconds``."""
        last_ok = self.clock()
        while not self._stop.is_set():
            self.sleep(self.s.retry_seconds)
            if self._stop.is_set():
                return
            try:
                verdict = self.step()
            except Exception as err:
                log.warning("leader election: renewing Lease %s/%s failed: %s", self.s.namespace, self.s.name, err)
                verdict = "wait"
            if verdict == "renew":
                last_ok = self.clock()
            elif verdict == "lost":
                self.on_lost(f"Lease {self.s.namespace}/{self.s.name} is now held by {self.seen.state and self.seen.state.holder}")
                return
            if self.clock() - last_ok >= self.s.renew_deadline_seconds:
                self.on_lost(f"no renewal of Lease {self.s.namespace}/{self.s.name} for {self.s.renew_deadline_seconds:g} s")
                return

    def keep(self) -> threading.Thread:
        """Renew in a daemon thread (started here)."""
        thread = threading.Thread(target=self.renew_until_lost, name="barque-lease", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Give the Lease up (on a clean stop), so a standby need not wait for it to expire."""
        self._stop.set()
        if not self.leading or self.seen.state is None:
            return
        body = lease_body(self.s.name, self.s.namespace, self.s.identity, 1, self.seen.state, micro_time())
        body["spec"]["holderIdentity"] = None
        try:
            self.api.replace_lease(self.s.namespace, self.s.name, body)
        except Exception as err:  # it expires anyway
            log.warning("leader election: could not release Lease %s/%s: %s", self.s.namespace, self.s.name, err)
        self.leading = False


def _exit_now(why: str) -> None:
    # Crash-only: kopf's tasks cannot all be stopped from here in bounded time, and every moment
    # spent acting after the deadline is a moment two replicas might act. The Deployment restarts us.
    log.critical("leader election: lost leadership (%s); exiting so that only the new leader acts", why)
    logging.shutdown()
    os._exit(3)
