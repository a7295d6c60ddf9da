"""``barque logs``: a step's captured stdout, stderr and traceback, read from the artifact store.

Pods write their output to the store, not to Kubernetes (see ``barque.records``), so this
works after the Pods are gone. The run's store id and store URI come from the PipelineRun's
status (``runId``, ``storeUri``), pinned by the operator when the run started; before that,
the Pipeline's ``spec.store.uri``. ``--store`` overrides the URI, e.g. when the cluster
reaches the store at an address your machine does not. Credentials come from the usual
AWS_* environment variables.

Locally (``barque logs [RUN_ID] [STEP]``) it reads the local store: without a run id, the
most recent local run; with one the local history knows (``--project``/``--store`` say where
it is), that run. Any other RUN is a PipelineRun's name, and the cluster is asked. Without
STEP, every step of a local run that executed is shown, in the order it was recorded.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping

from barque_cli.cmd_status import Kube, cli_error
from barque_cli.usage import add_cluster_args


def register(sub: Any) -> None:
    p = sub.add_parser("logs", help="print a step's captured stdout/stderr and traceback from the store")
    p.add_argument("run", metavar="RUN", nargs="?", help="a local run id (default: the latest local run) or a PipelineRun's name")
    p.add_argument("step", metavar="STEP", nargs="?", help="the step id (as `barque status` lists it) or its node's name; locally, default every step that ran")
    p.add_argument("--project", default=".", help="project folder holding .barque/, for a local run (default: here)")
    p.add_argument("--attempt", type=int, default=None, metavar="N", help="which attempt (default: the last)")
    p.add_argument("--store", default=None, metavar="URI", help="read from this store instead of the run's")
    add_cluster_args(p)
    p.set_defaults(func=cmd_logs)


def cmd_logs(args: argparse.Namespace) -> int:
    import os

    from barque.store import open_store
    from barque_runtime.history import location
    from barque_runtime.runlogs import local_run_id, steps_that_ran

    folder = location(args.store, args.project)
    local = local_run_id(folder, args.run)
    if local is not None:
        store = open_store(args.store or os.path.join(args.project, ".barque"))
        steps = [args.step] if args.step else steps_that_ran(folder, local)
        sys.stdout.write("".join(render_logs(store, local, step, args.attempt) for step in steps))
        return 0
    if args.step is None:
        raise cli_error(f"{args.run!r} is not a local run, and a PipelineRun needs a STEP", exit_code=2,
                        hint=f"`barque logs {args.run} STEP` for a cluster run; `barque history` lists the local runs")
    kube = Kube.connect(args)
    run = kube.get("pipelineruns", args.run)
    run_id, uri = store_location(run, lambda name: kube.get("pipelines", name))
    sys.stdout.write(render_logs(open_store(args.store or uri), run_id, args.step, args.attempt))
    return 0


def store_location(run: Mapping[str, Any], get_pipeline: Any) -> tuple[str, str]:
    """(store run id, store URI) of a run: its pinned status first, the Pipeline's spec second."""
    status, meta = run.get("status") or {}, run.get("metadata") or {}
    where = f"PipelineRun {meta.get('namespace', '')}/{meta.get('name', '')}"
    run_id = status.get("runId")
    if not run_id:
        raise cli_error("the run has not started: no store run id in its status yet", where=where,
                     hint="wait for it to start (barque status), or check the operator's logs")
    uri = status.get("storeUri")
    if not uri:
        ref = ((run.get("spec") or {}).get("pipelineRef") or {}).get("name", "")
        uri = (((get_pipeline(ref).get("spec") or {}).get("store")) or {}).get("uri")
    if not uri:
        raise cli_error("no store URI in the run's status nor in its Pipeline", where=where,
                     hint="pass --store s3://BUCKET/PREFIX (the operator's default store)")
    return run_id, uri


def render_logs(store: Any, run_id: str, step: str, attempt: int | None = None) -> str:
    """The step's output as text: a header, stdout, stderr (which ends with the traceback), the error."""
    from barque import records

    step_id, record = _find_step(store, run_id, step)
    state = record.get("state", "?")
    last = int(record.get("attempts") or 0)
    chosen = attempt if attempt is not None else last
    if attempt is not None and not 1 <= attempt <= max(last, 1):
        raise cli_error(f"attempt {attempt} does not exist: the step made {last}", where=f"step {step_id}", exit_code=2)
    lines = [f"== {step_id}: {state}" + (f", attempt {chosen} of {last}" if last else "") + " =="]
    if record.get("reason"):
        lines.append(f"reason: {record['reason']}")
    from barque_runtime.runlogs import log_step

    texts = {}
    if record.get("logs_step"):
        lines.append(f"output of the batched call it shares with {record['logs_step']}")
    if chosen:
        for stream in ("stdout", "stderr"):
            data = records.read_log(store, records.log_key(run_id, log_step(step_id, record), chosen, stream))
            if data:
                texts[stream] = data.decode("utf-8", errors="replace")
                lines.append(f"--- {stream} ---")
                lines.append(texts[stream].rstrip("\n"))
    error = record.get("error") or {}
    if error and chosen == last:
        traceback = str(error.get("traceback") or "").rstrip("\n")
        if traceback and traceback not in texts.get("stderr", ""):
            lines.append("--- traceback ---")
            lines.append(traceback)
        lines.append(f"error: {error.get('type', 'Error')}: {error.get('message', '')}")
    if len(lines) == 1 and state not in ("failed",):
        lines.append("(no output captured)" if state != "cached" else "(cached: served from the store, nothing ran)")
    return "\n".join(lines) + "\n"


def _find_step(store: Any, run_id: str, step: str) -> tuple[str, dict[str, Any]]:
    """The record for ``step``: an exact step id, else the one step of a node with that id or name."""
    import difflib

    from barque import records

    record = records.read_step_record(store, run_id, step)
    if record is not None:
        return step, record
    every = records.read_step_records(store, run_id)
    matches = [sid for sid, rec in every.items() if step in (rec.get("node"), _node_name(rec.get("node")))]
    if len(matches) == 1:
        return matches[0], every[matches[0]]
    where = f"run {run_id}"
    if matches:
        raise cli_error(f"{step!r} names {len(matches)} steps", where=where, hint=f"pick one: {', '.join(sorted(matches))}", exit_code=2)
    close = difflib.get_close_matches(step, list(every), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else (
        f"its steps: {', '.join(sorted(every)[:10])}" if every else "no step has written a record yet")
    raise cli_error(f"no step {step!r}", where=where, hint=hint, exit_code=2)


def _node_name(node_id: Any) -> str | None:
    """``pipeline.py:summary`` -> ``summary``."""
    return node_id.rsplit(":", 1)[-1] if isinstance(node_id, str) else None
