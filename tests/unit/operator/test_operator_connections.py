"""Every API request of the operator hands its connection back to the pool: a response dropped
unread (``_preload_content=False``) kept its connection, and each Job create and Event opened a
new one (a TLS handshake against a real API server). A keep-alive HTTP server on loopback
counts the connections; the real Kubernetes client and urllib3 talk to it."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Iterator

import pytest

from barque_operator.events import ObjectRef, PendingEvent
from barque_operator.kube import Kube, RequestGate


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
    from kubernetes import client

    _Api.connections = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = client.Configuration()
    config.host = f"http://127.0.0.1:{server.server_port}"
    api = client.ApiClient(config)
    try:
        yield Kube(api, RequestGate(4, 1000))
    finally:
        api.close()
        server.shutdown()
        server.server_close()


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
