"""Call a step's function: per-attempt timeout, retries with linear backoff, captured output.

Output is captured at the file-descriptor level, so prints from C extensions and child
processes land in the step's log too. The timeout uses ``SIGALRM``, so it interrupts
Python code; a call blocked inside C code is stopped by the pod's deadline instead.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from barque import records
from barque.model import Node
from barque.store import ArtifactStore


class StepTimeout(BaseException):
    """The step ran past its ``timeout_seconds``.

    A ``BaseException``, like ``KeyboardInterrupt``, so that a step's own ``except Exception``
    cannot swallow it and run on (the alarm fires once).
    """


class CallFailed(Exception):
    """Every attempt failed; carries the last error, its traceback and the log keys."""

    def __init__(self, error: BaseException, tb: str, attempts: int, logs: dict[str, str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.traceback = tb
        self.attempts = attempts
        self.logs = logs


def call_with_retries(
    store: ArtifactStore, run_id: str, step_id: str, node: Node, fn: Callable[..., Any], kwargs: dict[str, Any]
) -> tuple[Any, int, dict[str, str]]:
    """Return ``(result, attempts, log keys)``, or raise ``CallFailed`` after the last attempt."""
    attempts = max(1, node.retries)
    logs: dict[str, str] = {}
    error: BaseException | None = None
    tb = ""
    for attempt in range(1, attempts + 1):
        with _captured() as captured:
            try:
                with _deadline(node.timeout_seconds):
                    result = fn(**kwargs)
                error = None
            except (Exception, SystemExit, StepTimeout) as exc:  # sys.exit() in a step fails that step alone
                error, tb = exc, traceback.format_exc()
        logs = _store_logs(store, run_id, step_id, attempt, captured, tb if error else "")
        if error is None:
            return result, attempt, logs
        if attempt < attempts:
            time.sleep(node.retry_backoff * attempt)
    assert error is not None
    raise CallFailed(error, tb, attempts, logs)


def _store_logs(store: ArtifactStore, run_id: str, step_id: str, attempt: int, captured: dict[str, bytes], tb: str) -> dict[str, str]:
    keys = {}
    for stream in ("stdout", "stderr"):
        data = captured.get(stream, b"") + (tb.encode() if stream == "stderr" else b"")
        if data:
            keys[stream] = records.write_log(store, run_id, step_id, attempt, stream, data)
    return keys


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    if not seconds:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise StepTimeout(f"timed out after {seconds:g} s (timeout_seconds)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _captured() -> Iterator[dict[str, bytes]]:
    out: dict[str, bytes] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    files = {name: tempfile.TemporaryFile() for name in ("stdout", "stderr")}
    saved = {1: os.dup(1), 2: os.dup(2)}
    os.dup2(files["stdout"].fileno(), 1)
    os.dup2(files["stderr"].fileno(), 2)
    try:
        yield out
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for name, f in files.items():
            f.seek(0)
            out[name] = f.read()
            f.close()
