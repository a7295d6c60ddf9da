"""Start the operator: kopf with barque's handlers and settings, the metrics server, the health endpoint.

kopf settings chosen on purpose:
- Watches have server, client and connect timeouts (kopf #585, #957: a silently dead
  watch connection otherwise stalls the operator forever).
- Storage: barque registers no resource-changing handlers (``on.create``/``on.update``...),
  only ``on.event`` watchers, indexes and (for scheduled Pipelines) timers, which kopf runs
  without a diff base and without persisted progress. So nothing is ever written to ``last-handled-configuration``, which
  would copy a Pipeline's spec, inline code included, into an annotation and overflow its
  256 KiB limit (kopf #1087). Should a changing handler be added later, both storages are
  already set to ``status.kopf`` (which the CRD schemas admit, with
  ``x-kubernetes-preserve-unknown-fields`` there only) and the diff base ignores the graph
  and the code.
- The finalizer (kopf keeps one on objects with live timers: scheduled Pipelines only; runs
  have none, and kopf removes it from runs an older operator version left it on) is
  ``barque.dev/operator``.
- Several replicas: ``--leader-election LEASE`` (``barque_operator.leader``): a replica runs kopf
  only while it holds the Lease; a standby serves /healthz and waits. That gives failover, not
  throughput (one acts); scale out by sharding namespaces (``--namespace``). kopf's peering
  (``--peering NAME``) stays available but does not make replicas exclusive: kopf lets peers of
  equal priority all act.
- K8s Events from kopf's own logging only at WARNING and above; barque posts its own Events.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from barque_operator import handlers_pipeline, handlers_run
from barque_operator.context import Context
from barque_operator.kube import Kube, RequestGate
from barque_operator.leader import ElectionSettings, Elector
from barque_operator.metrics import Metrics
from barque_operator.settings import OperatorSettings

log = logging.getLogger("barque.operator")


def configure_kopf(kopf_settings: Any, ours: OperatorSettings) -> None:
    import kopf

    kopf_settings.watching.server_timeout = ours.watch_server_timeout
    kopf_settings.watching.client_timeout = ours.watch_client_timeout
    kopf_settings.watching.connect_timeout = ours.watch_connect_timeout
    kopf_settings.networking.request_timeout = 60
    kopf_settings.networking.connect_timeout = 10
    kopf_settings.persistence.finalizer = ours.finalizer
    kopf_settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    kopf_settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
        field="status.kopf.diffbase", ignored_fields=["spec.graph", "spec.code"]
    )
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.execution.max_workers = ours.workers
    if ours.peering:
        kopf_settings.peering.name = ours.peering
        kopf_settings.peering.mandatory = True
        kopf_settings.peering.clusterwide = not ours.namespaces


def build(settings: OperatorSettings) -> tuple[Any, Context]:
    """The kopf registry with barque's handlers, and the context they share."""
    import kopf

    registry = kopf.OperatorRegistry()
    # An explicit registry starts without kopf's default login handlers: log in as the client does
    # (in-cluster service account, else $KUBECONFIG).
    kopf.on.login(registry=registry)(kopf.login_via_client)
    gate = RequestGate(settings.api_concurrency, settings.api_qps)
    ctx = Context(settings=settings, kube=Kube.connect(gate), metrics=Metrics())
    handlers_pipeline.register(registry, ctx)
    handlers_run.register(registry, ctx)

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings, ctx.settings)

    return registry, ctx


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before any thread starts (``mallopt(M_ARENA_MAX)``, as the
    ``MALLOC_ARENA_MAX`` variable would). glibc gives each thread that allocates under contention
    an arena of its own, up to eight per CPU, and a burst of reconciles in the thread pool leaves
    each of them fragmented and resident; Python's own small-object allocator is unaffected.
    Elsewhere than on glibc this does nothing."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except OSError:
        pass


def elector(settings: OperatorSettings, kube: Kube) -> Elector | None:
    """The leader election of this replica, or None when it runs alone."""
    if not settings.leader_lease:
        return None
    identity = settings.leader_identity or f"{socket.gethostname()}-{os.getpid()}"
    return Elector(kube, ElectionSettings(
        name=settings.leader_lease, namespace=settings.leader_namespace, identity=identity,
        lease_seconds=settings.lease_seconds, renew_deadline_seconds=settings.renew_deadline_seconds,
        retry_seconds=settings.lease_retry_seconds))


@contextmanager
def standby_health(port: int) -> Iterator[None]:
    """/healthz answered while this replica waits for the Lease (kopf serves it once it runs), so
    the liveness probe does not restart a healthy standby."""

    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path.startswith("/healthz") else 404)
            self.end_headers()
            self.wfile.write(b"standby\n")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Healthy)
    thread = threading.Thread(target=server.serve_forever, name="barque-standby-health", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def run(settings: OperatorSettings, verbose: bool = False) -> int:
    import kopf

    limit_malloc_arenas()
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    if not verbose:  # kopf logs every handler success at INFO: once a second per active run
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    registry, ctx = build(settings)
    ctx.metrics.serve(settings.metrics_port)
    election = elector(settings, ctx.kube)
    if election is not None:
        with standby_health(settings.health_port):
            election.acquire()
        election.keep()
    scope = ", ".join(settings.namespaces) if settings.namespaces else "all namespaces"
    log.info("barque operator watching %s; metrics on :%d, health on :%d/healthz",
             scope, settings.metrics_port, settings.health_port)
    try:
        run_kopf(registry, settings)
    finally:
        ctx.stopping.set()
        if election is not None:
            election.release()
    return 0


def run_kopf(registry: Any, settings: OperatorSettings) -> None:
    import kopf

    kopf.run(
        registry=registry,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
    )
