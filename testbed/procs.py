"""Start a server process, wait until it is healthy, stop it, and show its log when it is not.

Used by the integration fixtures for every real part (etcd, kube-apiserver, controller manager,
MinIO, the test node) and meant to be reused by the operator fixture. Each process gets its own
log file and its own session (process group), so stopping it also stops anything it spawned.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

HealthCheck = Callable[[], bool]


class ProcessFailed(RuntimeError):
    """A managed process exited early or never became healthy; the message has its log tail."""


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


def http_ok(url: str, ssl_context: ssl.SSLContext | None = None, timeout: float = 2.0) -> HealthCheck:
    """A health check that passes when GET url answers 200."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=ssl_context) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
            return False

    return check


class ManagedProcess:
    """One child process with a log file; `stop()` is safe to call more than once."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def failure(self, why: str) -> ProcessFailed:
        return ProcessFailed(
            f"{self.name} {why}\ncommand: {' '.join(self.argv)}\nlog: {self.log_path}\n"
            f"--- last lines of the log ---\n{log_tail(self.log_path)}"
        )

    def check_alive(self) -> None:
        """Raise ProcessFailed (with the log tail) if the process has exited."""
        assert self.popen is not None, f"{self.name} was not started"
        code = self.popen.poll()
        if code is not None:
            raise self.failure(f"exited with code {code} while tests were using it")

    def wait_healthy(self, check: HealthCheck, timeout: float = 60.0, interval: float = 0.2) -> None:
        """Poll `check` until it passes; raise ProcessFailed (with the log tail) otherwise."""
        assert self.popen is not None, f"{self.name} was not started"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.popen.poll()
            if code is not None:
                raise self.failure(f"exited with code {code} before it became healthy")
            if check():
                return
            time.sleep(interval)
        raise self.failure(f"was not healthy after {timeout:.0f}s")

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL it."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Stragglers the process left in its group (it may exit before its children do).
        self._signal(signal.SIGKILL)
        return self.popen.returncode

    def _signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> ManagedProcess:
        return self.start() if self.popen is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_and_wait(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    check: HealthCheck,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> ManagedProcess:
    """Start a process and return it once healthy; on failure stop it and raise with its log."""
    proc = ManagedProcess(name, argv, log_path, env=env, cwd=cwd).start()
    try:
        proc.wait_healthy(check, timeout=timeout)
    except BaseException:
        proc.stop(grace=2)
        raise
    return proc


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll until probe() returns something truthy and return it; TimeoutError names `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
