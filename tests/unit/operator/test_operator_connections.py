"""Every API request of the operator hands its connection back to the pool: a response dropped
unread (``_preload_content=False``) kept its connection, and each Job create and Event opened a
new one (a TLS handshake against a real API server). A keep-alive HTTP server on loopback
counts the connections; the real Kubernetes client and urllib3 talk to it."""

from __future__ import annotations

import http.server
import json
from typing import Any, Iterator

import pytest

from barque_operator.events import ObjectRef, PendingEvent
from barque_operator.kube import Kube

from .kube_over_http import kube_over_http


class _Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"metadata": {"name": "x", "resourceVersion": "7"}}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_DELETE = _reply

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def kube() -> Iterator[Kube]:
    _Api.connections = 0
    with kube_over_http(_Api) as kube:
        yield kube


def _job(i: int) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"r{i}-p0", "namespace": "ns"},
            "spec": {"template": {"spec": {"containers": [{"name": "step", "image": "img:1"}]}}}}


def test_job_creates_events_and_wake_ups_reuse_one_connection(kube: Kube) -> None:
    ref = ObjectRef("barque.dev/v1alpha1", "PipelineRun", "ns", "r", "uid")
    for i in range(10):
        assert kube.create_job(_job(i))
        kube.post_event(PendingEvent(ref, "Normal", "Started", "..."))
        kube.nudge_run("ns", "r", f"job:{i}")
        assert kube.patch_run_status("ns", "r", {"phase": "Running"}) == "7"
        kube.delete_job("ns", f"r{i}-p0")
    assert _Api.connections == 1
