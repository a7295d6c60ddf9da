"""Give every step the same start: the process state a worker had before its first step.

A worker runs many steps one after another (that is what makes a phase of small steps
cheap: modules are imported once). What a step changes in the process must not reach the
next one, so after every attempt the executor puts back:

- the working directory, ``os.environ`` (and so the C environment) and the umask;
- every Python-level signal handler and the ``ITIMER_REAL`` timer (a stray ``alarm``);
- ``sys.argv``, ``sys.path`` (its entries; imported modules stay imported),
  ``sys.stdin``/``stdout``/``stderr`` objects, the recursion limit and ``warnings`` filters.

Not restored, on purpose or because it cannot be done cheaply: imported modules and their
globals (a module's own state is the user's; reusing imports is the point of a worker),
threads and child processes a step left running, open file descriptors, ``random``'s
state, ``locale``, resource limits. Inputs are a separate matter: each step decodes its
own copy of every input from the stored bytes (``executor.StreamContext``).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

# The C functions under signal.getsignal/signal.signal: the wrappers turn every number into
# an enum member, which made checking 60 handlers the larger part of a restore.
from _signal import getsignal as _getsignal, signal as _setsignal  # type: ignore[import-not-found]

# SIGKILL and SIGSTOP cannot be caught; the others either can or raise on the query.
_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


class ProcessState:
    """A snapshot of the process state a step may change; ``restore`` puts it back."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.environ = dict(os.environ)
        self.environ_bytes = dict(_environ_data())
        self.umask = _umask()
        self.handlers = _handlers()
        self.argv = list(sys.argv)
        self.path = list(sys.path)
        self.streams = (sys.stdin, sys.stdout, sys.stderr)
        self.recursion_limit = sys.getrecursionlimit()
        warnings = sys.modules.get("warnings")
        self.warning_filters = list(warnings.filters) if warnings is not None else None

    def restore(self) -> None:
        """Put back everything the snapshot holds; cheap when nothing changed."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self.handlers.items():
            if _getsignal(signum) != handler:
                _setsignal(signum, handler)
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)
        if _environ_data() != self.environ_bytes:
            _restore_environ(self.environ)
        os.umask(self.umask)
        sys.argv[:] = self.argv
        sys.path[:] = self.path
        sys.stdin, sys.stdout, sys.stderr = self.streams
        sys.setrecursionlimit(self.recursion_limit)
        warnings = sys.modules.get("warnings")
        if warnings is not None and self.warning_filters is not None:
            warnings.filters[:] = self.warning_filters
            warnings._filters_mutated()  # type: ignore[attr-defined]  # drop the per-module caches


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def _handlers() -> dict[int, Any]:
    # getsignal gives None for a handler installed outside Python; that one is left alone.
    found = {s: _getsignal(s) for s in _SIGNALS}
    return {s: h for s, h in found.items() if h is not None}


def _environ_data() -> dict[bytes, bytes] | os._Environ[str]:
    """What ``os.environ`` holds, compared without decoding every entry (a tenth of the time)."""
    data = getattr(os.environ, "_data", None)  # CPython's encoded copy; absent elsewhere
    return data if isinstance(data, dict) else os.environ


def _restore_environ(saved: dict[str, str]) -> None:
    for name in [n for n in os.environ if n not in saved]:
        del os.environ[name]  # unsetenv too, so C code and child processes see it gone
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
