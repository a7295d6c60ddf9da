"""``barque exec``: run one stream of one phase of a run, as a pod does.

Reads the run spec (which carries the phases known when the run started; a later phase has a
file of its own) and the code snapshot from the store, takes the stream index from
``JOB_COMPLETION_INDEX``, materializes inline code under ``$TMPDIR`` (the root filesystem
is read-only in pods), executes the stream and writes a small JSON result (at most
4 KiB) as the container's termination message. Exit codes: 0 when no user step failed,
3 when one did (records written; the Job's pod failure policy does not retry it), and
anything else for infrastructure trouble, which the Job may retry.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from barque.errors import BarqueError
from barque.runspec import RunStart, read_code_files, read_phase, read_run_start
from barque.store import open_store
from barque.store.base import check_key
from barque_runtime.executor import StreamContext, execute_stream
from barque_runtime.loader import ModuleLoader

USER_FAILURE_EXIT = 3
MESSAGE_LIMIT = 4096


def exec_stream(store_uri: str, run_id: str, phase_index: int, stream_index: int | None = None) -> int:
    """Execute the stream and return the process exit code."""
    _check_run_id(run_id)
    store = open_store(store_uri)
    start = read_run_start(store, run_id)
    found = read_phase(store, run_id, phase_index, start) if start is not None else None
    if start is None or found is None:
        raise BarqueError(f"run {run_id} phase {phase_index} is not in the store {store_uri}", hint="check BARQUE_STORE and that the operator wrote the run spec")
    phase, steps = found
    index = stream_index if stream_index is not None else int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
    if not 0 <= index < len(phase.streams):
        raise BarqueError(f"run {run_id} phase {phase_index} has {len(phase.streams)} stream(s), not index {index}", hint="check --stream or JOB_COMPLETION_INDEX")
    stream, spec = phase.streams[index], start.spec
    root = code_root(store, spec.run_id, spec.inline_code, spec.code_path, start)
    ctx = StreamContext(spec=spec, store=store, loader=ModuleLoader(root), echo_output=True)
    recs = execute_stream(ctx, [steps[s] for s in stream.steps])
    write_termination_message(termination_message(run_id, phase_index, index, recs))
    return USER_FAILURE_EXIT if any(r["state"] == "failed" for r in recs) else 0


def _check_run_id(run_id: str) -> None:
    """A run id names a folder of the store: ``/``-separated segments, none empty, ``.`` or ``..``."""
    try:
        check_key(run_id)
    except ValueError:
        raise BarqueError(
            f"invalid run id {run_id!r}: it must be '/'-separated names without empty, '.' or '..' parts",
            hint="pass the id the operator or `barque run` gave the run (--run or BARQUE_RUN_ID)",
        ) from None


def code_root(store: Any, run_id: str, inline: bool, code_path: str | None, start: RunStart | None = None) -> Path:
    """Where the run's code is in this Pod: its image's folder, or the inline snapshot written out
    (``start``: the run's spec as already read)."""
    if not inline:
        return Path(code_path or os.getcwd())
    root = Path(tempfile.gettempdir()) / "barque-code" / run_id.replace("/", "_")
    for rel, data in read_code_files(store, run_id, start).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # Atomically: other streams of the run may share this folder and be importing from it.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return root


def termination_message(run_id: str, phase: int, stream: int, recs: list[dict[str, Any]]) -> str:
    """The stream's outcome in at most 4 KiB: counts, then as many failures as fit."""
    counts: dict[str, int] = {}
    for r in recs:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    doc: dict[str, Any] = {"run": run_id, "phase": phase, "stream": stream, "counts": counts, "failed": []}
    for r in recs:
        if r["state"] != "failed":
            continue
        err = r.get("error") or {}
        lines = (err.get("message") or err.get("type") or "").strip().splitlines() or [""]
        doc["failed"].append({"step": r["step"], "error": f"{err.get('type')}: {lines[-1]}"[:300]})
        if len(json.dumps(doc)) > MESSAGE_LIMIT:
            doc["failed"].pop()
            doc["truncated"] = True
            break
    return json.dumps(doc, separators=(",", ":"))


def write_termination_message(message: str) -> None:
    """Write where the kubelet reads it; ``BARQUE_TERMINATION_LOG`` overrides the path (test node, local use)."""
    path = os.environ.get("BARQUE_TERMINATION_LOG", "/dev/termination-log")
    try:
        with open(path, "w") as f:
            f.write(message)
    except OSError:
        pass  # outside a pod there is no termination log; the records in the store are the truth
