"""Call a step's function: per-attempt timeout, retries with linear backoff, captured output.

Output is captured at the file-descriptor level, so prints from C extensions and child
processes land in the step's log too. The timeout uses ``SIGALRM``, so it interrupts
Python code; a call blocked inside C code is stopped by the pod's deadline instead. An
``async def`` step runs on an event loop that cancels it at the timeout (``asyncsteps``), and
``finish`` consumes what the call returned (a generator is written to the store) inside the
attempt, so the timeout, the captured output and the retries cover that work too.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from barque import records, trust
from barque.errors import StoreError
from barque.model import Node
from barque.store import ArtifactStore
from barque_runtime.asyncsteps import alarm_seconds, settle


class StepTimeout(BaseException):
    """The step ran past its ``timeout_seconds``.

    A ``BaseException``, like ``KeyboardInterrupt``, so that a step's own ``except Exception``
    cannot swallow it and run on (the alarm fires once).
    """


class CallFailed(Exception):
    """Every attempt failed; carries the last error, its traceback and the log keys."""

    def __init__(self, error: BaseException, tb: str, attempts: int, logs: dict[str, str]) -> None:
        super().__init__(describe(error))
        self.error = error
        self.traceback = tb
        self.attempts = attempts
        self.logs = logs


def describe(error: BaseException) -> str:
    """``str(error)``, or a stand-in when the error's own ``__str__`` raises."""
    try:
        return str(error)
    except BaseException:  # a user's __str__ may raise anything; the step's record still needs a message
        return f"<{type(error).__name__}: str() failed>"


def call_with_retries(
    store: ArtifactStore,
    run_id: str,
    step_id: str,
    node: Node,
    fn: Callable[..., Any],
    kwargs: Callable[[], dict[str, Any]],
    *,
    restore: Callable[[], None],
    first_attempt: int = 1,
    echo: bool = False,
    finish: Callable[[Any], Any] = lambda result: result,
) -> tuple[Any, int, dict[str, str]]:
    """Return ``(result, attempts, log keys)``, or raise ``CallFailed`` after the last attempt.

    ``kwargs`` gives each attempt its own inputs (a failed attempt may have mutated its own),
    and ``restore`` puts the process state back after every attempt. ``first_attempt`` is
    above 1 when earlier attempts killed their worker; the backoff counts them too. With
    ``echo``, what an attempt printed is also written to this process's own stdout and stderr
    after the attempt (a pod's container log), the traceback of a failed one included.
    ``finish`` turns the call's result into the step's value within the attempt.
    """
    attempts = max(1, node.retries)
    logs: dict[str, str] = {}
    error: BaseException | None = None
    tb = ""
    for attempt in range(first_attempt, max(attempts, first_attempt) + 1):
        if attempt > 1:
            time.sleep(node.retry_backoff * (attempt - 1))
        with _captured() as captured:
            try:
                with _deadline(alarm_seconds(fn, node.timeout_seconds), node.timeout_seconds), _weighted(node.weight):
                    result = finish(settle(fn(**kwargs()), node.timeout_seconds, _cancelled_after))
                error = None
            except BaseException as exc:  # sys.exit() or any BaseException in a step fails that step alone
                if is_cancellation(exc):
                    raise
                error, tb = exc, format_exc()
            finally:
                restore()
        logs = _store_logs(store, run_id, step_id, attempt, captured, tb if error else "")
        if echo:
            _echo(captured, tb if error else "")
        if error is None:
            return result, attempt, logs
    assert error is not None
    raise CallFailed(error, tb, max(attempts, first_attempt), logs)


def format_exc() -> str:
    """``traceback.format_exc()``; ``traceback`` is imported when a step first fails, since a run
    whose steps succeed never needs it."""
    import traceback

    return traceback.format_exc()


@contextmanager
def _weighted(weight: int) -> Iterator[None]:
    """``fanout.running_step`` for a step heavier than 1; a step of weight 1 runs in the
    context's default (its ``parallel()`` branches take one slot each), so the common step
    does not import ``fanout`` (with its ``pickle``, ``shutil``, ``tempfile``) to say so."""
    if weight == 1:
        yield
        return
    from barque.fanout import running_step

    with running_step(weight):
        yield


def is_cancellation(exc: BaseException) -> bool:
    """A ``KeyboardInterrupt`` that a real SIGINT raised: the run is being cancelled.

    Local workers do not let SIGINT raise (their parent decides), so there a
    ``KeyboardInterrupt`` can only come from the step's own code and fails the step like
    any other error.
    """
    return isinstance(exc, KeyboardInterrupt) and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _store_logs(store: ArtifactStore, run_id: str, step_id: str, attempt: int, captured: dict[str, bytes], tb: str) -> dict[str, str]:
    """The log keys of what the attempt printed; a log the store refuses (a full disk) is left out, with a warning."""
    keys = {}
    for stream in ("stdout", "stderr"):
        data = captured.get(stream, b"") + (tb.encode() if stream == "stderr" else b"")
        if data:
            try:
                keys[stream] = records.write_log(store, run_id, step_id, attempt, stream, data)
            except StoreError as err:
                sys.stderr.write(f"barque: warning: the {stream} of step {step_id} attempt {attempt} was not stored: {err}\n")
    return keys


def _echo(captured: dict[str, bytes], tb: str) -> None:
    secrets = trust.secret_values()  # redacted as in the stored log: a container log is read by others too
    for fd, data in ((1, captured.get("stdout", b"")), (2, captured.get("stderr", b"") + tb.encode())):
        data = trust.scrub_bytes(data, secrets)
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError:  # a closed or full output must not fail the step; the store has the log
            pass


def _cancelled_after(seconds: float) -> StepTimeout:
    return StepTimeout(f"timed out after {seconds:g} s (timeout_seconds); its coroutine was cancelled")


@contextmanager
def _deadline(seconds: float | None, declared: float | None) -> Iterator[None]:
    """Raise ``StepTimeout`` after ``seconds``; the message names the ``declared`` timeout."""
    if not seconds:
        yield
        return
    with raising_after(seconds, lambda: StepTimeout(f"timed out after {declared or seconds:g} s (timeout_seconds)")):
        yield


@contextmanager
def raising_after(seconds: float, error: Callable[[], BaseException]) -> Iterator[None]:
    """Raise ``error()`` in the main thread once ``seconds`` of wall time have passed inside the
    block (``SIGALRM``, so it interrupts Python code, not a call blocked in C). The timer and the
    previous handler are restored on the way out, whether the block ended or was interrupted."""

    def expire(signum: int, frame: Any) -> None:
        raise error()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _capture_file(name: str) -> int:
    """A new, nameless file to capture one stream of one attempt in: its file descriptor.

    In memory where the system has ``memfd_create`` (Linux): a ``TemporaryFile`` is a new inode
    on the disk under ``/tmp``, and two per step were two of a cold step's five file creations
    (bench/FINDINGS.md); what is captured is read into memory after the attempt all the same.
    A bare descriptor, read with ``pread``: a buffered file object around it cost three more
    system calls to set up and a seek to read (half of a capture's ~30 µs).
    A new file per attempt, never one reused: a child process a step leaves behind may still
    write to the one it inherited, and that must not reach the next step's log.
    """
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create(f"barque-{name}", os.MFD_CLOEXEC)
        except OSError:  # a sandbox that refuses the call (a seccomp profile): a file on disk, as before
            pass
    import tempfile

    with tempfile.TemporaryFile() as f:  # already unlinked: the descriptor is all that is left of it
        return os.dup(f.fileno())


def _read_capture(fd: int) -> bytes:
    """Everything written to a capture file, from its start; the file is closed."""
    chunks, offset = [], 0
    try:
        while chunk := os.pread(fd, 1 << 20, offset):
            chunks.append(chunk)
            offset += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


@contextmanager
def _captured() -> Iterator[dict[str, bytes]]:
    out: dict[str, bytes] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    files = {name: _capture_file(name) for name in ("stdout", "stderr")}
    saved = {1: os.dup(1), 2: os.dup(2)}
    os.dup2(files["stdout"], 1)
    os.dup2(files["stderr"], 2)
    try:
        yield out
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for name, fd in files.items():
            out[name] = _read_capture(fd)
