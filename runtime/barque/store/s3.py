"""The S3 backend (boto3): AWS S3, MinIO or any S3-compatible endpoint.

Constraints it keeps:
- boto3 and botocore are imported here only, and only when the first request is made, so
  ``import barque.store`` (and ``barque run`` on a local folder) never loads them.
- Endpoint, credentials and region come from the standard AWS settings (``AWS_ENDPOINT_URL``,
  ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
  ``AWS_PROFILE`` and the config files) unless passed in. With a custom endpoint the client uses
  path-style addressing, which MinIO needs.
- One client per store object, created once. A single PUT is atomic in S3, so ``put`` needs no
  temp object. A missing key reads as ``None``; every other failure is a ``StoreError`` that
  names the bucket and key and says what to check.
- Transient failures are retried here, with exponential backoff and full jitter, for up to
  ``retry_seconds`` (``BARQUE_S3_RETRY_SECONDS``, default 60): a refused or dropped connection,
  a timeout, a 5xx answer, throttling (``SlowDown``). That is what a store restarting mid-phase
  looks like to a step; anything else (a 403, a missing bucket) fails at once. botocore's own
  retries are off, so this is the one policy. Every request is idempotent to repeat (a PUT of
  the same bytes, a DELETE of a key already gone reads as success), and a retry never writes a
  damaged object: the body is whole bytes resent from the start, S3 PUTs are atomic, and the
  client sends a checksum of the body with every PUT (``request_checksum_calculation``), which
  the server checks before it stores anything.
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

from barque.errors import StoreError
from barque.store.base import check_key, check_prefix

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
T = TypeVar("T")
_RAISE: Any = object()  # "a missing key is an error too", for the requests where it is
# What a store that is restarting, overloaded or briefly unreachable answers: worth waiting for.
_TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
                    "RequestTimeTooSkewed", "XMinioServerNotInitialized", "Throttling", "ThrottlingException"}
_TRANSIENT_ERRORS = ("EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError",
                     "ConnectionError", "ResponseStreamingError", "IncompleteReadError", "ProxyConnectionError")
DEFAULT_RETRY_SECONDS = 60.0
_FIRST_DELAY, _MAX_DELAY = 0.2, 5.0


class S3Store:
    """An ``ArtifactStore`` on ``s3://bucket/prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        profile: str | None = None,
        client: Any = None,
        retry_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._settings = {
            "endpoint_url": endpoint_url,
            "region": region,
            "access_key": access_key,
            "secret_key": secret_key,
            "profile": profile,
        }
        self._client = client
        self._client_lock = threading.Lock()
        self.retry_seconds = retry_seconds if retry_seconds is not None else _retry_seconds_from_env()
        self._sleep, self._clock = sleep, clock

    @classmethod
    def from_uri(cls, uri: str) -> "S3Store":
        """``s3://bucket`` or ``s3://bucket/some/prefix``; everything else from the AWS settings."""
        if not uri.startswith("s3://"):
            raise ValueError(f"not an S3 store URI: {uri!r} (expected s3://bucket/prefix)")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        return cls(bucket, prefix)

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use and reused."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
        except ImportError as e:
            raise self._no_boto3() from e
        s = self._settings
        session = boto3.Session(
            aws_access_key_id=s["access_key"],
            aws_secret_access_key=s["secret_key"],
            region_name=s["region"],
            profile_name=s["profile"],
        )
        # Retries are ``_call``'s; the body checksum makes a damaged upload fail instead of landing.
        common: dict[str, Any] = {"connect_timeout": 10, "read_timeout": 60, "retries": {"total_max_attempts": 1},
                                  "request_checksum_calculation": "when_supported"}
        endpoint = s["endpoint_url"] or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            path_style = Config(s3={"addressing_style": "path"}, **common)
            return session.client("s3", endpoint_url=endpoint, config=path_style)
        client = session.client("s3", config=Config(**common))
        # An endpoint set in a profile's config file is applied by botocore itself; it is
        # almost surely not AWS, so switch to path-style addressing for it too.
        if not _is_aws_endpoint(client.meta.endpoint_url):
            client = session.client("s3", config=Config(s3={"addressing_style": "path"}, **common))
        return client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        full = self._key(key)
        self._call("put", full, lambda: self.client.put_object(Bucket=self.bucket, Key=full, Body=bytes(data)))

    def get(self, key: str) -> bytes | None:
        full = self._key(key)

        def read() -> bytes | None:
            body = self.client.get_object(Bucket=self.bucket, Key=full)["Body"]
            try:
                data: bytes = body.read()
                return data
            finally:
                body.close()

        return self._call("get", full, read, missing=None)

    def exists(self, key: str) -> bool:
        full = self._key(key)

        def head() -> bool:
            self.client.head_object(Bucket=self.bucket, Key=full)
            return True

        return self._call("head", full, head, missing=False)

    def size(self, key: str) -> int | None:
        full = self._key(key)

        def head() -> int | None:
            return int(self.client.head_object(Bucket=self.bucket, Key=full)["ContentLength"])

        return self._call("head", full, head, missing=None)

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0

        def pages() -> list[str]:
            keys: list[str] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", ()))
            return keys

        keys = self._call("list", full, pages)
        # S3 lists in UTF-8 byte order, which is code-point order; sort anyway for
        # S3-compatible servers that do not promise it.
        keys.sort()
        return iter(keys)

    def delete(self, key: str) -> None:
        full = self._key(key)
        self._call("delete", full, lambda: self.client.delete_object(Bucket=self.bucket, Key=full))

    def _call(self, action: str, full_key: str, fn: Callable[[], T], missing: T = _RAISE) -> T:
        """Run one request; a "no such key" answer gives ``missing``, every other failure a ``StoreError``."""
        try:
            from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
        except ImportError as e:
            raise self._no_boto3() from e

        where = f"s3://{self.bucket}/{full_key}"
        deadline = self._clock() + self.retry_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except ClientError as e:
                error = e.response.get("Error", {})
                code = str(error.get("Code", ""))
                if missing is not _RAISE and code in _MISSING_CODES:
                    return missing
                if code in _TRANSIENT_CODES and self._backoff(attempt, deadline):
                    continue
                detail = f"{code}: {error['Message']}" if error.get("Message") else (code or str(e))
                raise StoreError(f"S3 {action} failed{_after(attempt)}: {detail}", where=where,
                                 hint=_hint(code, self.bucket)) from e
            except BotoCoreError as e:
                if type(e).__name__ in _TRANSIENT_ERRORS and self._backoff(attempt, deadline):
                    continue
                raise StoreError(f"S3 {action} failed{_after(attempt)}: {e}", where=where,
                                 hint=_hint(type(e).__name__, self.bucket)) from e

    def _backoff(self, attempt: int, deadline: float) -> bool:
        """Sleep before attempt ``attempt + 1`` (exponential, full jitter); False when the budget is spent."""
        left = deadline - self._clock()
        if left <= 0:
            return False
        self._sleep(min(left, random.uniform(0, min(_MAX_DELAY, _FIRST_DELAY * 2 ** (attempt - 1)))))
        return True


    def _no_boto3(self) -> StoreError:
        return StoreError(
            f"the S3 store {self.uri} needs boto3, which is not installed",
            hint="install the S3 extra: pip install 'barque[s3]'",
        )


def _retry_seconds_from_env() -> float:
    raw = os.environ.get("BARQUE_S3_RETRY_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_RETRY_SECONDS
    except ValueError:
        raise StoreError(f"BARQUE_S3_RETRY_SECONDS={raw!r} is not a number of seconds",
                         hint="set it to how long store requests may be retried, e.g. 60 (0 turns retries off)") from None
    if value < 0 or value != value or value == float("inf"):
        raise StoreError(f"BARQUE_S3_RETRY_SECONDS={raw!r} must be a finite number of seconds, 0 or more",
                         hint="e.g. 60; 0 turns retries off")
    return value


def _after(attempt: int) -> str:
    return f" after {attempt} attempts" if attempt > 1 else ""


def _is_aws_endpoint(url: str | None) -> bool:
    host = (url or "").split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _hint(code: str, bucket: str) -> str:
    if code == "NoSuchBucket":
        return f"create the bucket {bucket!r} or fix the store URI"
    if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "NoCredentialsError",
                "PartialCredentialsError", "ExpiredToken"}:
        return (
            "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) "
            f"and that they may use bucket {bucket!r}"
        )
    if code in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}:
        return "check the endpoint (AWS_ENDPOINT_URL) is right and the server is reachable"
    return (
        "check the credentials, the endpoint (AWS_ENDPOINT_URL), the region (AWS_DEFAULT_REGION) "
        f"and that bucket {bucket!r} exists"
    )
