"""A tiny JSON client for the Kubernetes API: dicts in, dicts out, always with timeouts.

Built on the `kubernetes` client's configured ApiClient (kubeconfig loading, TLS, auth) but
without its models: the test node and the integration tests work on plain dicts, the way they
come over the wire, which keeps them independent of the generated models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.watch.watch import iter_resp_lines

DEFAULT_TIMEOUT = (5, 30)  # (connect, read) seconds


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status


class Api:
    def __init__(self, kubeconfig: str) -> None:
        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
        cfg.connection_pool_maxsize = 64  # one runner thread per pod shares this client
        self.client = client.ApiClient(cfg)

    def _send(self, method: str, path: str, query: Mapping[str, Any] | None, body: Any,
              content_type: str, timeout: tuple[float, float]) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        m, url, headers, body, _ = self.client.param_serialize(
            method=method, resource_path=path, query_params=params or None, header_params=headers,
            body=body, auth_settings=["BearerToken"])
        return self.client.call_api(m, url, headers, body, _request_timeout=timeout)

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json",
                timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> dict[str, Any]:
        resp = self._send(method, path, query, body, content_type, timeout)
        data = resp.read() or b"{}"
        if not 200 <= resp.status <= 299:
            raise ApiError(resp.status, data.decode(errors="replace"))
        result: dict[str, Any] = json.loads(data)
        return result

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def watch(self, path: str, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        """Events of one watch call; ends when the server closes it after timeout_seconds."""
        query = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": timeout_seconds}
        rest = self._send("GET", path, query, None, "application/json", (5, timeout_seconds + 15))
        raw = rest.response
        try:
            if not 200 <= rest.status <= 299:
                raise ApiError(rest.status, rest.read().decode(errors="replace"))
            for line in iter_resp_lines(raw):  # type: ignore[no-untyped-call]
                if line.strip():
                    yield json.loads(line)
        finally:
            raw.release_conn()
