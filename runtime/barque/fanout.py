"""``parallel`` and ``parallel_map``: fan out inside a step, with barca's semantics.

A step calls ``parallel(partial(f, x), ...)`` (or ``parallel_map(f, items)``) and gets the
branches' results back in argument order. Each branch runs in a forked child of the step's
process, at most ``branch_slots()`` at a time, so a step in a pod fans out within the pod's CPU
and a local worker within the machine's. As in barca, each branch takes the ``weight=`` of the
step that called ``parallel()`` (``running_step``): a step of weight 2 with 4 slots runs two
branches at a time, and the caller itself is not counted while it waits for them. Branches are not steps: not cached, not retried; what
they print lands in the calling step's log (the children inherit its captured descriptors).

What barca users rely on, kept here:
- a branch that raises comes back as a ``ParallelError`` in place of its result, and nothing is
  raised in the caller; a branch whose process dies (``os._exit``, a signal) or runs past
  ``BRANCH_TIMEOUT_SECONDS`` comes back the same way;
- a branch that returns a value that cannot be passed back (nothing pickle can write) makes
  ``parallel`` raise ``BranchResultError`` in the caller, naming the branch, the type and why;
- a result is never replaced by ``None``.

Unlike barca, a branch's arguments are not sent as JSON: the child is a fork, so it sees them as
the caller had them (a set or a date arrives as itself).

Results come back pickled through a file in a private temporary folder that the call removes
however it ends. That pickle is trusted because only this call's own children can have written
it (the folder is created with mode 0700 by this process); nothing from a store is unpickled here.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

BRANCH_TIMEOUT_SECONDS = 300.0
_STEP_WEIGHT: ContextVar[int] = ContextVar("barque_step_weight", default=1)
_POLL_SECONDS = 0.001
_MAX_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class BranchError:
    """What went wrong in a branch: the exception's type name, its message and the traceback."""

    type: str
    message: str
    traceback: str


class ParallelError(Exception):
    """Stands in a ``parallel`` result list for a branch that failed; ``.error`` says how."""

    def __init__(self, index: int, error: BranchError) -> None:
        super().__init__(f"parallel() branch {index}: {error.type}: {error.message}")
        self.index = index
        self.error = error


class BranchResultError(Exception):
    """A branch returned a value that cannot be passed back to the step that called ``parallel``."""


def branch_slots() -> int:
    """How many branches may run at once: ``BARQUE_PARALLEL_SLOTS``, else the CPUs this process may use.

    The CPU count honours the affinity mask and a cgroup CPU quota (a pod's CPU limit), so a
    pod limited to one CPU runs one branch at a time even on a large node.
    """
    configured = os.environ.get("BARQUE_PARALLEL_SLOTS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, quota) if quota else cpus)


@contextmanager
def running_step(weight: int) -> Iterator[None]:
    """While a step of this ``weight=`` runs, its ``parallel()`` branches each take that weight."""
    token = _STEP_WEIGHT.set(max(1, weight))
    try:
        yield
    finally:
        _STEP_WEIGHT.reset(token)


def branches_at_once() -> int:
    """How many branches of the running step run at once: the slots its weight fits, at least one
    (a weight above the slots runs its branches one at a time, as barca runs such a step alone)."""
    return max(1, branch_slots() // _STEP_WEIGHT.get())


def _cgroup_cpu_quota() -> int | None:
    """The whole CPUs a cgroup (v2 ``cpu.max`` or v1 CFS quota) allows, rounded up; None without a limit."""
    v2 = _read("/sys/fs/cgroup/cpu.max").split()
    if len(v2) == 2:
        quota, period = v2
    else:
        quota, period = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max", "-1" or no such file: no limit
        return None
    return -(-q // p) if q > 0 and p > 0 else None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def parallel(*branches: Callable[[], Any]) -> list[Any]:
    """Run each zero-argument callable in a child process; return their results in order.

    A failed branch's place holds a ``ParallelError``. Raises ``BranchResultError`` when a branch
    returned a value that cannot be passed back, and ``TypeError`` for an argument that is not callable.
    """
    for index, branch in enumerate(branches):
        if not callable(branch):
            raise TypeError(f"parallel() branch {index} is a {type(branch).__name__}, not a callable: pass functools.partial(f, ...)")
    if not branches:
        return []
    folder = tempfile.mkdtemp(prefix="barque-parallel-")
    try:
        outcomes = _run_all(list(branches), folder, branches_at_once())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [_result(index, outcome) for index, outcome in enumerate(outcomes)]


def parallel_map(fn: Callable[[T], Any], items: Iterable[T]) -> list[Any]:
    """``parallel(partial(fn, item) for item in items)``: one branch per item, results in order."""
    return parallel(*(_Bound(fn, item) for item in items))


class _Bound:
    """``fn`` with one argument bound (a ``functools.partial`` without the import)."""

    __slots__ = ("fn", "item")

    def __init__(self, fn: Callable[[Any], Any], item: Any) -> None:
        self.fn, self.item = fn, item

    def __call__(self) -> Any:
        return self.fn(self.item)


# What a child leaves in its result file: ("ok", value), ("raised", BranchError) or
# ("unpassable", reason). A child that leaves nothing died before it could write.
_Outcome = tuple[str, Any]


def _run_all(branches: list[Callable[[], Any]], folder: str, slots: int) -> list[_Outcome]:
    outcomes: list[_Outcome | None] = [None] * len(branches)
    running: dict[int, tuple[int, float]] = {}  # pid -> (index, deadline)
    todo = iter(range(len(branches)))
    pause = _POLL_SECONDS
    # Buffered output would be copied into every child and written twice.
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        while any(o is None for o in outcomes):
            while len(running) < slots and (index := next(todo, None)) is not None:
                running[_fork_branch(branches[index], _path(folder, index))] = (index, time.monotonic() + BRANCH_TIMEOUT_SECONDS)
            if _reap(running, outcomes, folder):
                pause = _POLL_SECONDS
                continue
            time.sleep(pause)
            pause = min(pause * 2, _MAX_POLL_SECONDS)
    finally:
        for pid in running:  # the caller was interrupted: no branch outlives the call
            _kill(pid)
    return [o for o in outcomes if o is not None]


def _reap(running: dict[int, tuple[int, float]], outcomes: list[_Outcome | None], folder: str) -> bool:
    """Collect the branches that ended and kill those past their deadline; True if any ended."""
    ended = False
    now = time.monotonic()
    for pid, (index, deadline) in list(running.items()):
        # Only our own pids: waitpid(-1) would steal the exit status of the step's other children.
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            outcomes[index] = _read_outcome(_path(folder, index), status)
        elif now > deadline:
            _kill(pid)
            message = f"the branch ran longer than {BRANCH_TIMEOUT_SECONDS:g} seconds"
            outcomes[index] = ("raised", BranchError("TimeoutError", message, ""))
        else:
            continue
        del running[pid]
        ended = True
    return ended


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _path(folder: str, index: int) -> str:
    return os.path.join(folder, f"{index}.pickle")


def _fork_branch(branch: Callable[[], Any], path: str) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        _die_with_parent(parent)
        # The step's timeout alarm and the runner's handlers belong to the caller, not the branch.
        signal.alarm(0)
        for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        _write_outcome(path, _call(branch))
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        code = 70
    finally:
        os._exit(code)  # never return into the caller's stack in the child


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this branch when the step's process dies, so no branch outlives a killed run."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(70)


def _call(branch: Callable[[], Any]) -> _Outcome:
    try:
        return ("ok", branch())
    except BaseException as e:  # a branch's SystemExit or KeyboardInterrupt is its failure too
        return ("raised", _describe(e))


def _describe(e: BaseException) -> BranchError:
    try:
        message = str(e)
        trace = "".join(traceback.format_exception(e))
    except Exception:  # an exception whose __str__ raises still has a type to report
        message = f"<{type(e).__name__} whose message could not be rendered>"
        trace = "".join(traceback.format_tb(e.__traceback__))
    return BranchError(type(e).__name__, message, trace)


def _write_outcome(path: str, outcome: _Outcome) -> None:
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        kind, value = outcome
        if kind == "ok":
            reason = f"{type(value).__module__}.{type(value).__qualname__}, which cannot be passed back: {type(e).__name__}: {e}"
            data = pickle.dumps(("unpassable", reason))
        else:  # an exception that will not pickle: its description is plain strings
            data = pickle.dumps(("raised", value))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _read_outcome(path: str, status: int) -> _Outcome:
    try:
        with open(path, "rb") as f:
            outcome: _Outcome = pickle.load(f)
        return outcome
    except FileNotFoundError:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.waitstatus_to_exitcode(status)}"
        return ("raised", BranchError("BranchCrashed", f"the branch's process died ({how}) before returning", ""))


def _result(index: int, outcome: _Outcome) -> Any:
    kind, value = outcome
    if kind == "ok":
        return value
    if kind == "unpassable":
        raise BranchResultError(f"parallel() branch {index} returned a {value}")
    return ParallelError(index, value)
