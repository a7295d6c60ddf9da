"""A pool of forked worker processes, one stream at a time each, kept for the whole run.

Workers are forked lazily (a fully cached run starts none) and keep their imported user
modules between streams, so a phase of many small streams pays one fork per worker, not
per stream. Workers ignore SIGINT: on Ctrl-C the parent decides, and stops them.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
from typing import Any, Iterator

from barque import records
from barque.plans import Step
from barque.runspec import RunSpec
from barque.store import open_store
from barque_runtime.executor import StreamContext, execute_stream
from barque_runtime.loader import ModuleLoader

Job = tuple[str, list[dict[str, Any]], dict[str, dict[str, Any]]]


def _worker_main(conn: multiprocessing.connection.Connection, spec: RunSpec, store_uri: str, root: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent's stdout carries the run summary alone: whatever user code prints outside a
    # step's captured call (a module printing while it is imported) goes to stderr instead.
    os.dup2(2, 1)
    ctx = StreamContext(spec=spec, store=open_store(store_uri), loader=ModuleLoader(root))
    while True:
        job = conn.recv()
        if job is None:
            return
        stream_id, steps, known = job
        ctx.known.update(known)
        try:
            result = execute_stream(ctx, [Step.from_dict(s) for s in steps])
        except BaseException as exc:  # an executor bug must not hang the parent
            conn.send((stream_id, None, f"{type(exc).__name__}: {exc}"))
            continue
        conn.send((stream_id, result, None))


class WorkerPool:
    """Runs streams on up to ``size`` processes and yields ``(stream_id, records)`` as they finish."""

    def __init__(self, size: int, spec: RunSpec, store_uri: str, root: str) -> None:
        self.size = max(1, size)
        self._args = (spec, store_uri, root)
        self._ctx = multiprocessing.get_context("fork")
        self._workers: list[tuple[Any, multiprocessing.connection.Connection]] = []

    def _spawn(self) -> tuple[Any, multiprocessing.connection.Connection]:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, *self._args), daemon=True)
        proc.start()
        child.close()
        self._workers.append((proc, parent))
        return proc, parent

    def run(self, jobs: list[Job]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        pending = list(reversed(jobs))
        busy: dict[multiprocessing.connection.Connection, Job] = {}
        idle = [conn for _, conn in self._workers]
        while pending or busy:
            while pending and (idle or len(self._workers) < self.size):
                conn = idle.pop() if idle else self._spawn()[1]
                job = pending.pop()
                conn.send(job)
                busy[conn] = job
            for ready in multiprocessing.connection.wait(list(busy)):
                conn = ready  # type: ignore[assignment]  # wait() returns the connections it was given
                job = busy.pop(conn)
                try:
                    stream_id, result, error = conn.recv()
                except EOFError:
                    done, rest = self._lost(conn, job)
                    if rest:  # the steps it never reached go to another worker
                        pending.append((job[0], rest, {**job[2], **{r["step"]: r for r in done}}))
                    yield job[0], done
                    continue
                idle.append(conn)
                if error is not None:
                    raise RuntimeError(f"stream {stream_id} crashed the executor: {error}")
                yield stream_id, result

    def _lost(self, conn: multiprocessing.connection.Connection, job: Job) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A worker died mid-stream (killed, ``os._exit``, a crash in C code).

        Returns the records of the steps it finished plus a failed record for the step it was
        running, and the steps it never reached. A new worker takes its place.
        """
        proc = next(p for p, c in self._workers if c is conn)
        self._workers.remove((proc, conn))
        proc.join(timeout=5)
        conn.close()
        code = proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        spec, store_uri, _ = self._args
        store = open_store(store_uri)
        done: list[dict[str, Any]] = []
        for index, step in enumerate(job[1]):
            rec = records.read_step_record(store, spec.run_id, step["id"])
            if rec is None:
                error = {"type": "WorkerDied", "message": f"the worker process {how} while running this step", "traceback": ""}
                rec = {"step": step["id"], "node": step["node"], "run_id": spec.run_id, "state": "failed", "attempts": 1, "error": error}
                records.write_step_record(store, spec.run_id, rec)
                return done + [rec], job[1][index + 1 :]
            done.append(rec)
        return done, []

    def close(self, force: bool = False) -> None:
        """Stop every worker: politely after a run, at once (SIGTERM) on Ctrl-C."""
        for proc, conn in self._workers:
            if force:
                proc.terminate()
            else:
                try:
                    conn.send(None)
                except OSError:
                    proc.terminate()
        for proc, conn in self._workers:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
            conn.close()
        self._workers.clear()
