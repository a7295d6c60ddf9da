"""The S3 store retries what a restarting or overloaded server answers, with backoff inside a time
budget, and fails at once on anything else. Real botocore exceptions from a stand-in client (no
server); a fake clock and sleep, so no test waits."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from barque.errors import StoreError
from barque.store.s3 import S3Store


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutObject")


class FlakyClient:
    """Fails each request with the next of ``failures`` (an exception), then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.puts: list[tuple[str, bytes]] = []

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        if self.failures:
            raise self.failures.pop(0)
        self.puts.append((Key, Body))
        return {}


def _store(client: FlakyClient, clock: Clock, budget: float = 30.0) -> S3Store:
    return S3Store("bkt", "p", client=client, retry_seconds=budget, sleep=clock.sleep, clock=lambda: clock.now)


def test_a_refused_connection_and_a_503_are_retried_until_the_request_succeeds() -> None:
    clock = Clock()
    client = FlakyClient(EndpointConnectionError(endpoint_url="http://minio:9000"), _client_error("503"),
                         _client_error("SlowDown"))
    _store(client, clock).put("a/b", b"bytes")
    assert client.puts == [("p/a/b", b"bytes")]  # written once, whole
    assert len(clock.sleeps) == 3


def test_backoff_grows_exponentially_and_stays_under_the_cap() -> None:
    clock = Clock()
    client = FlakyClient(*[_client_error("InternalError") for _ in range(12)])
    _store(client, clock, budget=1000).put("k", b"x")
    bounds = [min(5.0, 0.2 * 2 ** i) for i in range(12)]
    assert all(0 <= s <= b for s, b in zip(clock.sleeps, bounds))


def test_an_access_error_is_not_retried() -> None:
    clock = Clock()
    client = FlakyClient(_client_error("AccessDenied"))
    with pytest.raises(StoreError, match="S3 put failed: AccessDenied") as err:
        _store(client, clock).put("k", b"x")
    assert clock.sleeps == [] and "credentials" in (err.value.hint or "")


def test_the_retry_budget_ends_in_an_error_that_counts_the_attempts() -> None:
    clock = Clock()
    client = FlakyClient(*[EndpointConnectionError(endpoint_url="http://minio:9000") for _ in range(1000)])
    with pytest.raises(StoreError, match=r"S3 put failed after \d+ attempts") as err:
        _store(client, clock, budget=10).put("k", b"x")
    assert clock.now <= 10 + 1e-9 and client.puts == []
    assert "endpoint" in (err.value.hint or "")


def test_a_zero_budget_turns_retries_off() -> None:
    clock = Clock()
    with pytest.raises(StoreError):
        _store(FlakyClient(_client_error("503")), clock, budget=0).put("k", b"x")
    assert clock.sleeps == []


@pytest.mark.parametrize("raw", ["soon", "-1", "inf"])
def test_a_bad_retry_setting_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("BARQUE_S3_RETRY_SECONDS", raw)
    with pytest.raises(StoreError, match="BARQUE_S3_RETRY_SECONDS"):
        S3Store("bkt")
