"""A ``Kube`` whose requests reach a small HTTP server in this process (no TLS, no API server):
for tests of what the client sends and how it reads the answers."""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager
from typing import Iterator

from barque_operator.kube import Kube, RequestGate


@contextmanager
def kube_over_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[Kube]:
    """A ``Kube`` (gate: 4 in flight, 1000 a second) talking to ``handler`` on a free loopback port."""
    from kubernetes import client

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
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
