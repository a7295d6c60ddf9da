"""A pool of forked worker processes, one stream at a time each, kept for the whole run.

Workers are forked lazily (a fully cached run starts none) and keep their imported user
modules between streams, so a phase of many small streams pays one fork per worker, not
per stream. SIGINT and SIGTERM do nothing in a worker (a no-op handler, so a step's own
child processes still get the default action): on Ctrl-C or SIGTERM the parent decides and
stops them with SIGKILL. A worker dies with its parent: on Linux the kernel kills it
(``PR_SET_PDEATHSIG``), elsewhere a watcher thread notices that its parent has changed.
A worker that dies while running a step (``os._exit``, a segfault) has used one attempt of
that step: the step goes to another worker until its ``retries=`` are spent.

The pool is ``os.fork`` and pipes rather than ``multiprocessing``, whose import alone was
about a tenth of a trivial run's start-up. Messages are pickles, each preceded by its length.
A worker writes each step's record to its records pipe as the step ends (``("step", record)``)
and ``("end", error)`` when the stream is over; it stores no step record itself. So the parent
knows, without reading the store, which steps a worker that died had finished (a pipe keeps
what was written to it after its writer is gone), and the runner stores each stream's records
as one object (``barque.records``).

The parent does not wait on the records pipes, so a record does not wake it: after writing
``end`` the worker writes one byte to a second pipe, the one the parent waits on (its end of
file, when every writer is gone, means the worker died), and the parent reads the records
that have come, without waiting, when that byte arrives and every ``DRAIN_SECONDS`` meanwhile
(a pipe holds about a hundred records, so a stream never waits long on a full one). Waking
the parent for every record cost the worker that wrote it its CPU: on a loaded machine the
woken parent took the writer's place: a median 28 % of a stream's wall time at load 5
(bench/FINDINGS.md).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections import deque
from functools import lru_cache
from typing import Any, Iterator

from barque import steprecord
from barque.plans import Step
from barque.rundriver import RUNNER
from barque.runspec import RunSpec
from barque.store import open_store
from barque_runtime.executor import StreamContext, execute_stream
from barque_runtime.loader import ModuleLoader

try:  # the C pickler that pickle.dumps/loads are, without pickle.py's own ~1.4 ms of import
    from _pickle import dumps, loads
except ImportError:  # not CPython
    from pickle import dumps, loads

# (stream id, its steps to run, records it reads, attempts already used by steps whose worker died)
Job = tuple[str, list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, int]]

_HEADER = 8  # bytes of the big-endian length before each pickle
_CANCEL_SIGNALS = {signal.SIGINT, signal.SIGTERM}
DRAIN_SECONDS = 0.02  # how often the parent reads the records of running streams (the progress line moves)


class Channel:
    """Both ends one side holds: a pipe to read messages from and a pipe to write them to
    (``-1`` for an end it does not have: the parent reads its worker's records with an ``Inbox``)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd

    def send(self, obj: Any) -> None:
        data = dumps(obj, protocol=-1)  # the highest protocol
        view = memoryview(len(data).to_bytes(_HEADER, "big") + data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def recv(self) -> Any:
        """The next message; ``EOFError`` when the other side has gone, even mid-message."""
        return loads(self._read(int.from_bytes(self._read(_HEADER), "big")))

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.read_fd, min(size, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd < 0:
                continue
            try:
                os.close(fd)
            except OSError:
                pass


class Inbox:
    """The parent's side of a worker's records pipe: what has come is read without waiting and
    parsed into whole messages (``queue``); a message cut short stays in the buffer until the
    rest comes, or forever when its writer died part-way."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)  # a process the step left behind may hold the pipe open
        self.queue: deque[tuple[str, Any]] = deque()
        self.ended = False  # the pipe is at its end: every writer is gone
        self._buffer = bytearray()

    def drain(self) -> None:
        """Read what the pipe holds now and queue its whole messages."""
        while not self.ended:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                self.ended = True
                break
            self._buffer += chunk
        buffer, at = self._buffer, 0
        while len(buffer) - at >= _HEADER:
            size = int.from_bytes(buffer[at : at + _HEADER], "big")
            if len(buffer) - at - _HEADER < size:
                break
            self.queue.append(loads(buffer[at + _HEADER : at + _HEADER + size]))
            at += _HEADER + size
        del buffer[:at]


class Worker:
    """A forked worker: its pid and the parent's side of its pipes (jobs out, records in, and
    the pipe whose byte says a stream ended)."""

    def __init__(self, pid: int, jobs: Channel, inbox: Inbox, wake_fd: int) -> None:
        self.pid = pid
        self.conn = jobs
        self.inbox = inbox
        self.wake_fd = wake_fd
        self.gone = False  # the wake pipe is at its end: the worker died (or closed it)
        self.exitcode: int | None = None

    def woke(self) -> None:
        """Read the bytes that woke the parent; none (end of file) means the worker has gone."""
        try:
            if not os.read(self.wake_fd, 64):
                self.gone = True
        except BlockingIOError:
            pass

    def close(self) -> None:
        self.conn.close()
        for fd in (self.inbox.fd, self.wake_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def join(self, timeout: float) -> int | None:
        """Reap the worker within ``timeout`` seconds; its exit code, negative when a signal killed it."""
        if self.exitcode is None:
            deadline = time.monotonic() + timeout
            delay = 0.0002
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.exitcode = os.waitstatus_to_exitcode(status)
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.05)
        return self.exitcode

    def signal(self, signum: int) -> None:
        if self.exitcode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


def _parent_decides(signum: int, frame: Any) -> None:
    """SIGINT and SIGTERM in a worker: the parent got them too, or will, and stops the worker."""


def _die_with_parent(parent: int, prctl: Any) -> None:
    """End this process when ``parent`` ends, even by SIGKILL.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked us ends, not the process; the
    pool forks from the thread that runs it and closes before that call returns, so the two
    are the same here. The parent may already have gone before the call: then our parent
    pid has changed (to init or a subreaper) and we leave at once. ``prctl`` is libc's
    (``_libc_prctl``), or ``None`` where there is none.
    """
    if prctl is None or prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1 is PR_SET_PDEATHSIG
        _watch_parent(parent)
    if os.getppid() != parent:
        os._exit(1)


@lru_cache(maxsize=1)
def _libc_prctl() -> Any:
    """libc's ``prctl`` on Linux, else ``None``. Loaded in the parent before its first fork, so
    that each worker inherits it instead of importing ``ctypes`` itself (~2 ms of CPU each)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _watch_parent(parent: int) -> None:
    """Where the kernel cannot do it: a daemon thread that checks the parent pid."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="barque-parent-watch", daemon=True).start()


def _worker_main(conn: Channel, wake_fd: int, spec: RunSpec, store_uri: str, root: str) -> None:
    """Run the streams the parent sends on ``conn`` until it sends ``None`` (or goes); the records
    go back on ``conn`` too, and a byte on ``wake_fd`` after each stream's ``end``."""
    # The parent's stdout carries the run summary alone: whatever user code prints outside a
    # step's captured call (a module printing while it is imported) goes to stderr instead.
    os.dup2(2, 1)
    ctx = StreamContext(spec=spec, store=open_store(store_uri), loader=ModuleLoader(root),
                        on_record=lambda rec: conn.send(("step", rec)))
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent has gone
            return
        if job is None:
            return
        stream_id, steps, known, attempts_used = job
        ctx.known.update(known)
        ctx.attempts_used = attempts_used
        try:
            execute_stream(ctx, [Step.from_dict(s) for s in steps])
            error = None
        except BaseException as exc:  # an executor bug must not hang the parent
            error = f"{type(exc).__name__}: {exc}"
        conn.send(("end", error))
        os.write(wake_fd, b"\0")  # after the end is in the records pipe: the parent reads it all


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


def _child(conn: Channel, wake_fd: int, args: tuple[RunSpec, str, str]) -> int:
    """The forked worker's life, as ``multiprocessing`` ran it: the exit code it ends with."""
    # stdin is the terminal's, not the steps': read it and get nothing
    devnull = os.open(os.devnull, os.O_RDONLY)
    if devnull != 0:
        os.dup2(devnull, 0)
        os.close(devnull)
    code = 1
    try:
        _worker_main(conn, wake_fd, *args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        sys.stderr.write(f"barque worker {os.getpid()}:\n")
        traceback.print_exc()
    finally:
        threading = sys.modules.get("threading")
        if threading is not None:  # wait for the non-daemon threads a step left, as an exiting process does
            threading._shutdown()  # type: ignore[attr-defined]
        _flush_std_streams()
    return code


class WorkerPool:
    """Runs streams on up to ``size`` processes and yields ``(stream_id, records, ended)``: each
    step's record as it finishes, and ``ended`` once a stream is over (with the records of the
    steps its worker's death or failure left without one).

    barca's ``weight=``: a stream takes the largest weight of its steps' nodes in slots of the
    pool's capacity (``size``) while it runs, and the slots of the streams running at once add
    up to at most the capacity; one heavier than the capacity runs alone. Streams start in the
    order they were given, and one waiting for room is not overtaken by lighter ones after it.
    """

    def __init__(self, size: int, spec: RunSpec, store_uri: str, root: str) -> None:
        self.size = max(1, size)
        self._args = (spec, store_uri, root)
        self._workers: list[Worker] = []
        self._running: dict[int, tuple[Worker, Job]] = {}  # by the fd of its wake pipe
        self._deaths: dict[str, int] = {}  # attempts of a step that ended with its worker
        self._warned: set[str] = set()

    def slots(self, job: Job) -> int:
        """The capacity ``job`` holds while it runs: its heaviest node's weight, at most the capacity."""
        nodes = self._args[0].graph.nodes
        heaviest = max((nodes[step["node"]] for step in job[1]), key=lambda n: n.weight, default=None)
        if heaviest is None:
            return 1
        if heaviest.weight > self.size and heaviest.id not in self._warned:
            self._warned.add(heaviest.id)
            sys.stderr.write(
                f"barque: warning: {heaviest.id!r} has weight={heaviest.weight}, more than the capacity {self.size} "
                "(the worker count); it runs alone\n"
            )
        return min(heaviest.weight, self.size)

    def _spawn(self) -> Worker:
        to_child_r, to_child_w = os.pipe()
        records_r, records_w = os.pipe()
        wake_r, wake_w = os.pipe()
        _flush_std_streams()  # or the child would write the parent's buffered output again
        parent = os.getpid()
        prctl = _libc_prctl()
        # Until the worker has its own handlers, a Ctrl-C would run the parent's (cancelling)
        # handler in the worker: hold the two signals back across the fork.
        signal.pthread_sigmask(signal.SIG_BLOCK, _CANCEL_SIGNALS)
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                for signum in _CANCEL_SIGNALS:
                    signal.signal(signum, _parent_decides)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _CANCEL_SIGNALS)
                _die_with_parent(parent, prctl)
                for fd in (to_child_w, records_r, wake_r):
                    os.close(fd)
                for other in self._workers:
                    other.close()
                code = _child(Channel(to_child_r, records_w), wake_w, self._args)
            finally:
                os._exit(code)
        for fd in (to_child_r, records_w, wake_w):
            os.close(fd)
        worker = Worker(pid, Channel(-1, to_child_w), Inbox(records_r), wake_r)
        self._workers.append(worker)  # before a held-back signal can cancel: close() must see it
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _CANCEL_SIGNALS)
        return worker

    def run(self, jobs: list[Job]) -> Iterator[tuple[str, list[dict[str, Any]], bool]]:
        pending = list(reversed(jobs))
        busy = self._running = {}
        held: dict[int, int] = {}  # slots of the capacity each busy worker holds
        done: dict[int, list[dict[str, Any]]] = {}  # records each busy worker has sent so far
        idle = list(self._workers)
        while pending or busy:
            while pending and (idle or len(self._workers) < self.size):
                need = self.slots(pending[-1])
                if sum(held.values()) + need > self.size:
                    break  # the next stream waits for room, and nothing after it goes first
                worker = idle.pop() if idle else self._spawn()
                job = pending.pop()
                worker.conn.send(job)
                busy[worker.wake_fd] = (worker, job)
                held[worker.wake_fd] = need
                done[worker.wake_fd] = []
            for fd in _ready(list(busy), DRAIN_SECONDS):
                busy[fd][0].woke()
            for fd, (worker, job) in list(busy.items()):
                worker.inbox.drain()
                queue = worker.inbox.queue
                recs = []
                while queue and queue[0][0] == "step":
                    recs.append(queue.popleft()[1])
                if recs:
                    done[fd].extend(recs)
                    yield job[0], recs, False
                if queue:  # the stream's end
                    error = queue.popleft()[1]
                    del busy[fd], held[fd]
                    sent = done.pop(fd)
                    if worker.gone or worker.inbox.ended:  # it ended the stream, then died: no worker of ours any more
                        self._retire(worker)
                    else:
                        idle.append(worker)
                    yield job[0], [] if error is None else self._crashed(job, sent, error), True
                elif worker.gone or worker.inbox.ended:  # died mid-stream, having sent the records in ``sent``
                    del busy[fd], held[fd]
                    sent = done.pop(fd)
                    ended, rest = self._lost(worker, job, sent)
                    if rest:  # the steps it never reached (or will retry) go to another worker
                        known = {**job[2], **{r["step"]: r for r in [*sent, *ended]}}
                        pending.append((job[0], rest, known, dict(self._deaths)))
                    yield job[0], ended, not rest

    def _retire(self, worker: Worker) -> int | None:
        """Take a worker that has gone out of the pool: reap it (killing it if its pipes closed
        but it lives on) and close our ends of its pipes; its exit code."""
        self._workers.remove(worker)
        code = worker.join(timeout=5)
        worker.close()
        if code is None:  # its pipe closed but it lives on: it is no worker of ours any more
            worker.signal(signal.SIGKILL)
            worker.join(timeout=5)
        return code

    def _lost(self, worker: Worker, job: Job, sent: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A worker died mid-stream (killed, ``os._exit``, a crash in C code), having sent the
        records in ``sent``.

        Returns the record of the step it died in when that step has no attempts left (else
        nothing), and the steps still to run: from the one it was running, when that step has
        attempts left, or else the steps after it. A new worker takes its place.
        """
        code = self._retire(worker)
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        spec = self._args[0]
        finished = {rec["step"] for rec in sent}
        for index, step in enumerate(job[1]):
            if step["id"] in finished:
                continue
            used = self._deaths[step["id"]] = job[3].get(step["id"], 0) + 1
            if used < max(1, spec.graph.nodes[step["node"]].retries):
                return [], job[1][index:]
            rec = steprecord.crashed(step["id"], step["node"], "WorkerDied", f"the worker process {how} while running this step",
                                     run_id=spec.run_id, by=RUNNER, attempts=used).to_dict()
            return [rec], job[1][index + 1 :]
        return [], []

    def _crashed(self, job: Job, sent: list[dict[str, Any]], error: str) -> list[dict[str, Any]]:
        """The executor itself raised: the stream's steps it sent no record for fail with that error."""
        spec = self._args[0]
        finished = {rec["step"] for rec in sent}
        return [
            steprecord.failed(step["id"], step["node"], "ExecutorError", f"the executor failed running this stream: {error}",
                              run_id=spec.run_id, by=RUNNER).to_dict()
            for step in job[1] if step["id"] not in finished
        ]

    def stop(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Kill every worker at once (a cancel, ``--fail-fast``) and return, by stream, the step
        records the running ones had sent that ``run`` had not read yet: a pipe keeps what was
        written to it after its writer has gone, and those steps did finish."""
        running = list(self._running.values())
        self._running = {}
        for worker in self._workers:
            worker.signal(signal.SIGKILL)
        for worker in self._workers:
            worker.join(timeout=5)
        unread = [(job[0], recs) for worker, job in running if (recs := _unread_records(worker.inbox))]
        self.close(force=True)
        return unread

    def close(self, force: bool = False) -> None:
        """Stop every worker: politely after a run, at once (SIGKILL) on cancel.

        SIGKILL, because a worker's SIGTERM handler is a no-op and a step may have installed
        its own: a cancelled run must not wait on user code.
        """
        for worker in self._workers:
            if force:
                worker.signal(signal.SIGKILL)
            else:
                try:
                    worker.conn.send(None)
                except OSError:
                    worker.signal(signal.SIGTERM)
        for worker in self._workers:
            if worker.join(timeout=5) is None:
                worker.signal(signal.SIGKILL)
                worker.join(timeout=5)
            worker.close()
        self._workers.clear()


def _unread_records(inbox: Inbox) -> list[dict[str, Any]]:
    """The step records left in a stopped worker's pipe (and read but not yet taken), without
    waiting. Whole messages only: one the kill cut short is left out."""
    inbox.drain()
    return [body for kind, body in inbox.queue if kind == "step"]


def _ready(fds: list[int], timeout: float) -> list[int]:
    """The fds with something or an end of file to read, waiting at most ``timeout`` seconds for one."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(timeout * 1000)]
