"""``barque submit --param-file``: micro-batches in the cluster, one PipelineRun per parameter set.

Locally a batch is a run in a process (``barque_runtime.batches``); here it is a PipelineRun the
operator runs, and the CLI only creates the runs and watches them: at most ``concurrency`` runs
not yet in a terminal phase at once, the next one created as soon as one ends, in the order of
the sets. The summary is the local one (``barque_runtime.batches.summarize``), with each batch
read from its run's status: ``run_id`` is the PipelineRun's name (what ``barque status``,
``logs`` and ``--resume-from`` take), the counts are the status's. A run's values stay in the
store, so a batch has no ``final_output`` (``barque logs`` and the store have them).

Once a batch's run is cancelled (by someone else, or Ctrl-C here) no new one is created, as
locally; Ctrl-C or SIGTERM also asks the operator to cancel the runs still going (``spec.cancel``).
The API calls are passed in, so the loop is tested without a cluster.
"""

from __future__ import annotations

import signal
import time
from typing import Any, Callable, Iterable, Mapping

from barque_cli.cmd_status import TERMINAL

OUTCOME = {"Succeeded": "succeeded", "Failed": "failed", "Cancelled": "cancelled"}


def submit_many(
    bodies: Iterable[Mapping[str, Any]],
    *,
    create: Callable[[Mapping[str, Any]], str],
    get: Callable[[str], Mapping[str, Any]],
    cancel: Callable[[str], Any],
    concurrency: int = 1,
    poll: float = 2.0,
    report: Callable[[Mapping[str, Any]], None] = lambda run: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Create a run per manifest of ``bodies`` (``create`` returns its name), at most
    ``concurrency`` unfinished at once, follow each to its end with ``get``; the batches' summary."""
    from barque_runtime.batches import summarize

    started = clock()
    results: dict[int, dict[str, Any]] = {}
    active: dict[str, tuple[int, dict[str, str]]] = {}
    pending = iter(enumerate(bodies))
    seen: dict[str, Any] = {}
    try:
        while True:
            stop = any(r["status"] == "cancelled" for r in results.values())
            while not stop and len(active) < concurrency:
                item = next(pending, None)
                if item is None:
                    break
                index, body = item
                active[create(body)] = (index, dict((body.get("spec") or {}).get("params") or {}))
            if not active:
                break
            ended = _poll(active, get, report, seen, results)
            if not ended:
                sleep(poll)
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM through barque_runtime.cancel.Cancellation
        by = signal.Signals(getattr(err, "signum", signal.SIGINT)).name
        for name, (index, params) in active.items():
            cancel(name)
            results[index] = {"params": params, "run_id": name, "status": "cancelled", "cancelled_by": by}
    return summarize([results[i] for i in sorted(results)], concurrency, clock() - started)


def _poll(
    active: dict[str, tuple[int, dict[str, str]]], get: Callable[[str], Mapping[str, Any]],
    report: Callable[[Mapping[str, Any]], None], seen: dict[str, Any], results: dict[int, dict[str, Any]],
) -> bool:
    """Read each active run once; move the ended ones to ``results``. Whether any ended."""
    ended = False
    for name in list(active):
        run = get(name)
        status = run.get("status") or {}
        now = (status.get("phase"), status.get("progress"))
        if seen.get(name) != now:
            report(run)
            seen[name] = now
        if status.get("phase") in TERMINAL:
            index, params = active.pop(name)
            results[index] = batch_result(name, params, status)
            ended = True
    return ended


def batch_result(name: str, params: Mapping[str, str], status: Mapping[str, Any]) -> dict[str, Any]:
    """One batch of the summary, from its run's terminal status, in the local batch's fields."""
    from barque_operator.status import parse_time

    counts = status.get("counts") or {}
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    out: dict[str, Any] = {
        "params": dict(params),
        "run_id": name,
        "status": OUTCOME.get(str(status.get("phase")), "failed"),
        "steps_executed": sum(int(counts.get(s) or 0) for s in ("succeeded", "failed", "crashed")),
        "steps_cached": int(counts.get("cached") or 0),
        "steps_failed": int(counts.get("failed") or 0) + int(counts.get("crashed") or 0),
        "steps_skipped": int(counts.get("skipped") or 0),
        "steps_filtered": int(counts.get("filtered") or 0),
        "elapsed_seconds": (end - start).total_seconds() if start and end else None,
    }
    if status.get("message") and out["status"] != "succeeded":
        out["message"] = status["message"]
    if status.get("failures"):
        out["failures"] = list(status["failures"])
    return out
