"""Cancelling a local run: SIGINT and SIGTERM mean the same, a ``cancelled`` summary and a history row.

Kept apart from ``api`` so that ``barque run`` can take SIGTERM as a cancellation from its
first moments, before the heavier modules are imported (``early_sigterm``).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Any, Iterator

CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Cancelled(KeyboardInterrupt):
    """The run was cancelled by SIGINT or SIGTERM (``signum``); raised while steps run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupting_signal(exc: BaseException) -> int | None:
    """The signal behind ``exc``: the ``Cancelled`` or ``KeyboardInterrupt`` it is or was raised
    from, else None. Python wraps what some hooks raise (a class body's ``__set_name__`` gives a
    RuntimeError), so a signal that lands in an import surfaces as another exception."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return getattr(current, "signum", signal.SIGINT)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class Cancellation:
    """SIGINT and SIGTERM cancel a run the same way: a ``cancelled`` summary and a history row.

    The handler raises ``Cancelled`` only while steps run (``armed``), and only once; a signal
    that comes while the run is prepared is remembered and the run cancels before its first
    step; one that comes while the summary and history are written is remembered and changes
    nothing, so the summary is never lost. Handlers are installed only in the main thread
    (Python allows no other), and SIGINT only when it still has Python's default handler,
    so an embedding application's own handler stays.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.armed = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "Cancellation":
        for signum in CANCEL_SIGNALS:
            current = signal.getsignal(signum)
            if signum == signal.SIGINT and current is not signal.default_int_handler:
                continue
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: the caller's signals, the caller's business
                break
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            if self.armed:
                self.armed = False
                raise Cancelled(signum)

    def check(self) -> None:
        """Raise ``Cancelled`` now if a signal came while nothing could be interrupted."""
        if self.signum is not None:
            raise Cancelled(self.signum)


@contextmanager
def early_sigterm() -> Iterator[None]:
    """SIGTERM raises ``Cancelled`` while a command starts, as SIGINT raises ``KeyboardInterrupt``.

    ``run``'s own ``Cancellation`` takes over once there is a run to cancel. Before this is
    entered (the interpreter's start and the CLI's first imports) SIGTERM still ends the
    process at once, which is harmless: no worker exists yet and nothing has been written.
    """

    def handle(signum: int, frame: Any) -> None:
        raise Cancelled(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handle)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
