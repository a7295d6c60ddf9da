"""The one module that talks to the Kubernetes API (through the official client, dicts in and out).

Every call has a request timeout (a hung connection must not freeze a handler), reads are
returned as plain dicts (``_preload_content=False`` + JSON), every response is read to its end
(``_done``), and the outcomes that are normal
for a level-based operator are not errors: a 409 on create means the object already exists
(created by an earlier reconcile or a previous operator process), a 404 on delete means it
is already gone.

Every call also passes through one ``RequestGate``: at most ``api_concurrency`` requests in
flight and ``api_qps`` started per second (a token bucket, one second of burst), so a thousand
runs arriving at once cannot flood the API server. When requests queue, the most urgent go
first (``Priority``): what starts work (reading a Pipeline, creating a Job, waking a run) before
status bookkeeping, and advisory Events last, so new runs are not starved by old ones.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import logging
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from barque_operator.models import GROUP, VERSION

if TYPE_CHECKING:
    from barque_operator.events import PendingEvent

log = logging.getLogger(__name__)
TIMEOUT = (5, 30)  # connect, read (seconds)
LIST_TIMEOUT = (5, 120)  # a LIST of every Job the operator owns may be large
LEASE_TIMEOUT = (2, 4)  # a renewal must fail fast enough to be retried within the renew deadline
NUDGE_ANNOTATION = f"{GROUP}/reconcile"
# Answers of an API server that is overloaded (429, API Priority and Fairness) or restarting (5xx):
# the same request is sent again, after the server's Retry-After or a backoff (0.5 s doubling to
# 4 s), about 10 to 30 s in all. Without it the reconcile fails, and kopf does not retry an event
# handler: a run refused at its start waited for the safety sweep (five sweeps after its creation).
REFUSED = (429, 500, 502, 503, 504)
REFUSAL_RETRIES = 10
REFUSAL_BACKOFF = 0.5  # seconds before the first retry without a Retry-After; doubles up to 4 s


class Priority(IntEnum):
    """Which queued request goes first (lower first)."""

    START = 0  # reading a Pipeline, creating a Job, waking a run: what makes work start
    STATUS = 1  # status writes, deletes, the rare lists
    EVENT = 2  # advisory Events


class RequestGate:
    """At most ``concurrency`` requests in flight and ``qps`` started per second; waiters are served
    by priority, then in arrival order. Thread-safe (kopf runs sync handlers in a thread pool)."""

    def __init__(self, concurrency: int, qps: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.concurrency, self._qps, self._clock = max(1, concurrency), max(0.1, qps), clock
        self._cond = threading.Condition()
        self._waiting: list[tuple[int, int]] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._tokens = self._qps  # one second of burst
        self._refilled = clock()

    def _take_token(self) -> float:
        """0 when a token was taken, else the seconds until the next one."""
        now = self._clock()
        self._tokens = min(self._qps, self._tokens + (now - self._refilled) * self._qps)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._qps

    @contextmanager
    def slot(self, priority: Priority) -> Iterator[None]:
        with self._cond:
            ticket = (int(priority), next(self._seq))
            heapq.heappush(self._waiting, ticket)
            while True:
                if self._waiting[0] == ticket and self._in_flight < self.concurrency:
                    pause = self._take_token()
                    if pause == 0.0:
                        break
                    self._cond.wait(pause)
                else:
                    self._cond.wait()
            heapq.heappop(self._waiting)
            self._in_flight += 1
            self._cond.notify_all()  # the next in line may go too
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()


def refusal_retries() -> Any:
    """urllib3's retries for the operator's requests: ``REFUSED`` answers sent again (any verb:
    a Job create that did land answers 409 the second time, a merge patch is idempotent);
    connection failures as the client's default (3); a read that failed is not sent again."""
    from urllib3.util.retry import Retry

    return Retry(total=None, connect=3, read=0, redirect=0, other=0, status=REFUSAL_RETRIES,
                 status_forcelist=REFUSED, allowed_methods=None, backoff_factor=REFUSAL_BACKOFF, backoff_max=4,
                 respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False)


def _load(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data


def _done(response: Any) -> None:
    """Read a response nobody needs to its end, which hands its connection back to the pool.

    With ``_preload_content=False`` urllib3 keeps the connection with the response until its body
    is read; a response dropped unread takes its connection with it, and the next request opens a
    new TLS connection. Under a burst that made every Job create and Event a TLS handshake (for
    the operator and for the API server), the largest share of the operator's CPU."""
    response.read()
    response.release_conn()


class Kube:
    """Thin wrappers over the calls the operator makes; build with ``Kube.connect()``."""

    def __init__(self, api_client: Any, gate: RequestGate, lease_client: Any = None, watch_client: Any = None) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.gate = gate
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        # A watch holds its connection for minutes: not one of the pool the gate's requests share.
        self.watch_batch = client.BatchV1Api(watch_client or api_client)
        self.custom = client.CustomObjectsApi(api_client)
        # The Lease's requests must fail within the renew deadline, not wait out refusals.
        self.coordination = client.CoordinationV1Api(lease_client or api_client)
        self._api_exception = client.exceptions.ApiException

    @classmethod
    def connect(cls, gate: RequestGate) -> "Kube":
        """In-cluster credentials when running in a Pod, else ``$KUBECONFIG`` / ``~/.kube/config``.

        The connection pool holds one connection per request the gate lets through at once: the
        client's default (five per CPU) is smaller than that on a small node, and every request
        past the pool's size opens a connection of its own, whose TLS handshake costs the operator
        and the API server more CPU than the request itself. Requests the API server refuses for
        a moment are sent again (``refusal_retries``), except the Lease's, which have a client
        (and two connections) of their own."""
        from kubernetes import client, config

        pool = gate.concurrency
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            configuration = type.__call__(client.Configuration)
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            configuration = client.Configuration.get_default_copy()
        lease = copy.deepcopy(configuration)
        lease.connection_pool_maxsize = 2
        watch = copy.deepcopy(configuration)
        watch.connection_pool_maxsize = 4
        configuration.connection_pool_maxsize = pool
        configuration.retries = refusal_retries()  # read when the client builds its connection pool
        api_client = client.ApiClient(configuration)
        return cls(api_client, gate, client.ApiClient(lease), client.ApiClient(watch))

    def _status(self, err: Exception) -> int | None:
        return getattr(err, "status", None) if isinstance(err, self._api_exception) else None

    # -- barque resources ------------------------------------------------------------------

    def get_pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_custom(namespace, "pipelines", name)

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_custom(namespace, "pipelineruns", name)

    def _get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        try:
            with self.gate.slot(Priority.START):
                return _load(self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name, _preload_content=False, _request_timeout=TIMEOUT))
        except Exception as err:
            if self._status(err) == 404:
                return None
            raise

    def patch_run_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> str | None:
        """Merge-patch a run's status (RFC 7386: a None removes a key); its new resourceVersion, or
        None when the run is gone."""
        try:
            with self.gate.slot(Priority.STATUS):
                data = _load(self.custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, "pipelineruns", name, {"status": dict(status)},
                    _content_type="application/merge-patch+json", _preload_content=False, _request_timeout=TIMEOUT))
        except Exception as err:
            if self._status(err) == 404:
                return None
            raise
        version: str | None = data["metadata"].get("resourceVersion")
        return version

    def nudge_run(self, namespace: str, name: str, why: str) -> None:
        """Set the run's ``barque.dev/reconcile`` annotation to ``why``: the change reaches the
        operator through its watch of runs, which reconciles the run (nothing when it is gone)."""
        body = {"metadata": {"annotations": {NUDGE_ANNOTATION: why}}}
        try:
            with self.gate.slot(Priority.START):
                _done(self.custom.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, "pipelineruns", name, body,
                    _content_type="application/merge-patch+json", _preload_content=False, _request_timeout=TIMEOUT))
        except Exception as err:
            if self._status(err) != 404:
                raise

    def list_runs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        with self.gate.slot(Priority.STATUS):
            data = _load(self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "pipelineruns", label_selector=label_selector,
                _preload_content=False, _request_timeout=TIMEOUT))
        items: list[dict[str, Any]] = data.get("items") or []
        return items

    def create_run(self, namespace: str, body: Mapping[str, Any]) -> bool:
        """Create a PipelineRun; False when one of that name already exists."""
        try:
            with self.gate.slot(Priority.START):
                self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelineruns", dict(body),
                                                            _request_timeout=TIMEOUT)
            return True
        except Exception as err:
            if self._status(err) == 409:
                return False
            raise

    def cancel_run(self, namespace: str, name: str) -> None:
        try:
            with self.gate.slot(Priority.STATUS):
                self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "pipelineruns", name,
                                                           {"spec": {"cancel": True}}, _request_timeout=TIMEOUT)
        except Exception as err:
            if self._status(err) != 404:
                raise

    def delete_run(self, namespace: str, name: str) -> None:
        try:
            with self.gate.slot(Priority.STATUS):
                self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "pipelineruns", name,
                                                            propagation_policy="Background", _request_timeout=TIMEOUT)
        except Exception as err:
            if self._status(err) != 404:
                raise

    # -- Jobs and Pods ---------------------------------------------------------------------

    def create_job(self, body: Mapping[str, Any]) -> bool:
        """Create a Job; False when it already exists (a 409 is how idempotence shows)."""
        try:
            ns = body["metadata"]["namespace"]
            with self.gate.slot(Priority.START):
                _done(self.batch.create_namespaced_job(ns, dict(body), _preload_content=False,  # type: ignore[arg-type]
                                                       _request_timeout=TIMEOUT))
            return True
        except Exception as err:
            if self._status(err) == 409:
                return False
            raise

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and, in the background, its Pods."""
        try:
            with self.gate.slot(Priority.STATUS):
                _done(self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background",
                                                       _preload_content=False, _request_timeout=TIMEOUT))
        except Exception as err:
            if self._status(err) != 404:
                raise

    def list_jobs(self, namespace: str | None, label: str) -> tuple[list[dict[str, Any]], str]:
        """The Jobs that carry ``label`` in ``namespace`` (None: all namespaces), and the list's resourceVersion."""
        with self.gate.slot(Priority.START):  # the operator's first decisions wait for it
            if namespace is None:
                response = self.batch.list_job_for_all_namespaces(
                    label_selector=label, _preload_content=False, _request_timeout=LIST_TIMEOUT)
            else:
                response = self.batch.list_namespaced_job(
                    namespace, label_selector=label, _preload_content=False, _request_timeout=LIST_TIMEOUT)
            data = _load(response)
        items: list[dict[str, Any]] = data.get("items") or []
        return items, str(data["metadata"]["resourceVersion"])

    def watch_jobs(self, namespace: str | None, label: str, version: str, server_timeout: int,
                   client_timeout: tuple[int, int]) -> Iterator[dict[str, Any]]:
        """The events of a WATCH of the Jobs that carry ``label`` from ``version`` (bookmarks
        included), as raw dicts, until the server ends it after ``server_timeout`` seconds. Not
        through the gate: it is one long request, held open."""
        from kubernetes.watch.watch import iter_resp_lines

        options: dict[str, Any] = dict(
            label_selector=label, watch=True, resource_version=version, allow_watch_bookmarks=True,
            timeout_seconds=server_timeout, _preload_content=False, _request_timeout=client_timeout)
        response: Any  # urllib3's response, streamed (``_preload_content=False``)
        if namespace is None:
            response = self.watch_batch.list_job_for_all_namespaces(**options)
        else:
            response = self.watch_batch.list_namespaced_job(namespace, **options)
        try:
            for line in iter_resp_lines(response):
                event: dict[str, Any] = json.loads(line)
                yield event
        finally:
            response.close()  # a stream left half-read cannot go back to the pool
            response.release_conn()

    def list_job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        """A Job's Pods: read only when the Job ended with steps unrecorded (their last words)."""
        with self.gate.slot(Priority.STATUS):
            data = _load(self.core.list_namespaced_pod(
                namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}",
                _preload_content=False, _request_timeout=TIMEOUT))
        items: list[dict[str, Any]] = data.get("items") or []
        return items

    # -- the leader election's Lease -------------------------------------------------------
    # Not through the gate: a renewal queued behind a burst of Job creations could miss its
    # deadline and stop the leader. It is one small request every few seconds.

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _load(self.coordination.read_namespaced_lease(name, namespace, _preload_content=False,
                                                                 _request_timeout=LEASE_TIMEOUT))
        except Exception as err:
            if self._status(err) == 404:
                return None
            raise

    def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create the Lease; None when another replica created it first (409)."""
        try:
            return _load(self.coordination.create_namespaced_lease(
                namespace, dict(body), _preload_content=False, _request_timeout=LEASE_TIMEOUT))  # type: ignore[arg-type]
        except Exception as err:
            if self._status(err) == 409:
                return None
            raise

    def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Replace the Lease if its resourceVersion is still the one in ``body``; None when it is not (409)."""
        try:
            return _load(self.coordination.replace_namespaced_lease(
                name, namespace, dict(body), _preload_content=False, _request_timeout=LEASE_TIMEOUT))  # type: ignore[arg-type]
        except Exception as err:
            if self._status(err) == 409:
                return None
            raise

    # -- Events ----------------------------------------------------------------------------

    def post_event(self, event: PendingEvent) -> None:
        """A core/v1 Event (``EventRecorder`` calls this from its posting threads); raises when the API refuses it."""
        ref = event.ref
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref.name[:200]}.", "namespace": ref.namespace},
            "involvedObject": {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name,
                               "namespace": ref.namespace, "uid": ref.uid},
            "type": event.type,
            "reason": event.reason,
            "message": event.message[:1024],
            "source": {"component": "barque-operator"},
            "reportingComponent": "barque.dev/operator",
            "reportingInstance": "barque-operator",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        with self.gate.slot(Priority.EVENT):
            _done(self.core.create_namespaced_event(ref.namespace, body, _preload_content=False,  # type: ignore[arg-type]
                                                    _request_timeout=TIMEOUT))
