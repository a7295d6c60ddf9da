"""A run staged in a local-folder store the way the operator stages it, and `barque exec` run on
it the way a Job's pod runs it, for the tests of what a pod does.

Real: the `barque` CLI in a child process (``clirun.barque``), the run spec, inline code and
phases written with ``barque.runspec``, and a termination-log file in place of the kubelet's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from barque.model import Graph
from barque.parsing import parse_project
from barque.planner import make_plan
from barque.plans import Plan
from barque.runspec import RunSpec, write_phase, write_run_spec
from barque.store import open_store
from barque_runtime.podexec import MESSAGE_LIMIT

from .clirun import barque, pipeline


@dataclass(frozen=True)
class StagedRun:
    store_dir: Path
    graph: Graph
    plan: Plan  # the first plan; every phase of it is in the store


def stage_run(tmp_path: Path, source: str, run_id: str = "ns/run-1", workers: int = 1) -> StagedRun:
    """Plan ``source`` (``clirun.pipeline``'s file, in ``tmp_path/project``) as the operator would
    and store the run spec, the inline code and every phase of the plan in ``tmp_path/store``."""
    path = pipeline(tmp_path / "project", source)
    graph = parse_project([str(path)])
    plan = make_plan(graph, workers=workers)
    store_dir = tmp_path / "store"
    store = open_store(str(store_dir))
    write_run_spec(store, RunSpec(run_id=run_id, graph=graph, targets=plan.targets), {"pipeline.py": path.read_text()})
    for phase in plan.phases:
        write_phase(store, run_id, phase, plan)
    return StagedRun(store_dir, graph, plan)


def exec_pod(tmp_path: Path, store_dir: Path, run_id: str = "ns/run-1", phase: int = 0, stream: int = 0) -> tuple[int, dict]:
    """``barque exec`` for one stream, run in ``tmp_path/pod`` with the stream index in
    ``$JOB_COMPLETION_INDEX``: its exit code and its termination message (at most the limit)."""
    log = tmp_path / f"termination-log-{phase}-{stream}"
    work = tmp_path / "pod"
    work.mkdir(exist_ok=True)
    result = barque(
        "exec", "--store", str(store_dir), "--run", run_id, "--phase", str(phase),
        cwd=work, env={"BARQUE_TERMINATION_LOG": str(log), "TMPDIR": str(tmp_path), "JOB_COMPLETION_INDEX": str(stream)},
    )
    text = log.read_text()
    assert len(text.encode()) <= MESSAGE_LIMIT
    return result.code, json.loads(text)
