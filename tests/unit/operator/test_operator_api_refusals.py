"""An API server that refuses for a moment (429 Too Many Requests, as API Priority and Fairness
answers when overloaded, or a 5xx while it restarts): the operator's client tries the same request
again, after the server's Retry-After, instead of failing the reconcile. A failed reconcile of a
run not started yet is tried again only by the safety sweep, five sweeps (five minutes with the
chart's defaults) after the run was created, so a refusal of a few seconds at a start cost minutes.

The operator's real ``Kube`` over an HTTP server of this test that refuses the first requests.
(On the test bed, API Priority and Fairness could not refuse every request: a priority level of
zero shares still seats one request at a time, so only concurrent requests met a 429.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from barque_operator import kube as kube_module
from barque_operator.kube import Kube, RequestGate

JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "r1-p0", "namespace": "team-a"},
       "spec": {"template": {"spec": {"containers": [{"name": "step", "image": "img:1"}], "restartPolicy": "Never"}}}}


class Refusing(ThreadingHTTPServer):
    """Answers the first ``refusals`` requests with ``code``, then 201 with the body sent."""

    def __init__(self, refusals: int, code: int) -> None:
        self.refusals, self.code, self.seen = refusals, code, []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Refusing

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.path)
        refused = len(self.server.seen) <= self.server.refusals
        data = json.dumps({"kind": "Status", "code": self.server.code} if refused else json.loads(body)).encode()
        self.send_response(self.server.code if refused else 201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    servers: list[Refusing] = []
    monkeypatch.setattr(kube_module, "REFUSAL_BACKOFF", 0.001)  # the schedule's shape, without its seconds

    def start(refusals: int, code: int) -> tuple[Refusing, Kube]:
        server = Refusing(refusals, code)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        config = tmp_path / "kubeconfig"
        config.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: k, cluster: {{server: 'http://127.0.0.1:{server.server_address[1]}'}}}}]\n"
            "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n")
        from kubernetes.config import kube_config

        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        return server, Kube.connect(RequestGate(concurrency=4, qps=100))

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("code", [429, 500, 503])
def test_a_job_create_refused_for_a_moment_is_sent_again_until_the_api_server_takes_it(serve: Any, code: int) -> None:
    server, kube = serve(refusals=3, code=code)
    assert kube.create_job(JOB) is True
    assert server.seen == ["/apis/batch/v1/namespaces/team-a/jobs"] * 4


def test_an_api_server_that_keeps_refusing_still_fails_the_request(serve: Any) -> None:
    server, kube = serve(refusals=100, code=429)
    with pytest.raises(Exception) as err:
        kube.create_job(JOB)
    assert getattr(err.value, "status", None) == 429
    assert 1 < len(server.seen) < 100  # tried again, a bounded number of times
