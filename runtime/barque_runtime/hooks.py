"""Run hooks: each in a forked worker process, after the run, locally and in a hook Job's Pod.

The driver (``barque.rundriver``) says which hooks a run's outcome calls; this module runs
them and says how each went. A hook runs in its own process, as a step does, so one that
crashes or hangs (``timeout_seconds``) cannot take the run's summary with it; its failure is
reported in the summary's ``hooks[]`` and never changes the run's status.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from typing import Any, Mapping, Sequence, TypedDict

from barque import trust
from barque.errors import BarqueError
from barque.model import Node
from barque.records import read_step_records
from barque.hookstore import read_hook_call, write_hook_result
from barque.runreport import REPORT_PARAM, RunReport, run_report
from barque.runspec import read_run_spec
from barque.store import open_store
from barque_runtime.asyncsteps import settle
from barque_runtime.loader import ModuleLoader
from barque_runtime.podexec import code_root


class HookResult(TypedDict, total=False):
    """How one hook went: ``state`` is ``succeeded``, ``failed`` (it raised, after its retries)
    or ``crashed`` (its process died or outran ``timeout_seconds``)."""

    hook: str
    on: str
    state: str
    attempts: int
    duration_seconds: float
    error: str  # Type: message
    traceback: str


def hook_kwargs(node: Node, report: RunReport, params: Mapping[str, str]) -> dict[str, Any]:
    """A hook's arguments: the report through ``run_report``, run parameters by name."""
    kwargs: dict[str, Any] = {name: value for name, value in params.items() if name in node.params}
    if REPORT_PARAM in node.params:
        kwargs[REPORT_PARAM] = report
    return kwargs


def exec_hook(store_uri: str, run_id: str, index: int | None = None) -> int:
    """``barque exec --hooks``: run hook ``index`` (default ``$JOB_COMPLETION_INDEX``) of the
    run's hook Job and store how it went. Exit 0 whatever the hook did: its failure is the
    result's to report, and its retries are its own (``retries=``), not the Job's."""
    store = open_store(store_uri)
    spec = read_run_spec(store, run_id)
    call = read_hook_call(store, run_id)
    if spec is None or call is None:
        raise BarqueError(f"run {run_id} has no hooks to run in the store {store_uri}", hint="check BARQUE_STORE and BARQUE_RUN_ID")
    status, hooks = call
    position = index if index is not None else int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
    if not 0 <= position < len(hooks):
        raise BarqueError(f"run {run_id} has {len(hooks)} hook(s), not index {position}", hint="check JOB_COMPLETION_INDEX")
    report = run_report(run_id, status, read_step_records(store, run_id))
    root = str(code_root(store, run_id, spec.inline_code, spec.code_path))
    (result,) = run_hooks([spec.graph.nodes[hooks[position]]], report, spec.params, root)
    write_hook_result(store, run_id, position, result)
    return 0


def run_hooks(nodes: Sequence[Node], report: RunReport, params: Mapping[str, str], root: str) -> list[HookResult]:
    """Run ``nodes`` one after another, each in a forked process; how each went, in order."""
    return [_run_one(node, report, params, root) for node in nodes]


def _run_one(node: Node, report: RunReport, params: Mapping[str, str], root: str) -> HookResult:
    started = time.perf_counter()
    attempts = max(1, node.retries)
    result: HookResult = {"hook": node.id, "on": node.on or "", "state": "failed", "attempts": 0}
    secrets = trust.secret_values()
    for attempt in range(1, attempts + 1):
        result["attempts"] = attempt
        state, error, tb = _in_process(node, report, params, root)
        result["state"] = state
        if state == "succeeded":
            result.pop("error", None)
            result.pop("traceback", None)
            break
        # Scrubbed as a step's error is: the summary, the history and the store are read by others.
        result["error"] = trust.scrub(error, secrets)
        if tb:
            result["traceback"] = trust.scrub(tb, secrets)
        if attempt < attempts and node.retry_backoff:
            time.sleep(node.retry_backoff)
    result["duration_seconds"] = round(time.perf_counter() - started, 6)
    return result


def _in_process(node: Node, report: RunReport, params: Mapping[str, str], root: str) -> tuple[str, str, str]:
    """(state, ``Type: message``, traceback) of one call in a forked process."""
    ctx = multiprocessing.get_context("fork")  # the parent's imports and the report, without pickling the function
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, node, report, params, root), daemon=True)
    proc.start()
    child.close()
    proc.join(node.timeout_seconds)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return "crashed", f"Timeout: the hook ran longer than timeout_seconds={node.timeout_seconds}", ""
    if parent.poll():
        state, error, tb = parent.recv()
        return str(state), str(error), str(tb)
    return "crashed", f"WorkerDied: the hook's process ended with exit code {proc.exitcode}", ""


def _child(conn: Any, node: Node, report: RunReport, params: Mapping[str, str], root: str) -> None:
    os.dup2(2, 1)  # stdout carries the run summary alone
    try:
        fn = ModuleLoader(root).function(node)
        settle(fn(**hook_kwargs(node, report, params)), node.timeout_seconds, lambda t: TimeoutError(f"the hook ran longer than {t}s"))
        conn.send(("succeeded", "", ""))
    except BaseException as exc:  # the hook's failure is reported, never raised into the run
        conn.send(("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
