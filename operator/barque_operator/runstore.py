"""The operator's side of the artifact store: what it writes for a run and what it reads back.

A run's start is one write (``write_start``): the run spec carrying the phases that start and the
pinned plan (``barque.runspec``), after the code snapshot, which is stored once per Pipeline
version (by its digest; ``CodeSnapshots``). Later it writes the grown plan
(``runs/<run_id>/operator/plan.json``, which then wins over the spec's), phase files, and the
records of steps it settles without running them (cached, skipped, reused, lost); it reads step
records and phase files.
Deferred partition keys are read by ``barque.deferred``, the reader the local runner uses
too, which decodes JSON only: the operator runs no user code.

``RecordCache``, ``SpecCache`` and ``CodeSnapshots`` are memory used as a cache only: a restarted
operator reads the store again.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

from barque import records as step_records
from barque.plans import Phase, Plan
from barque.runspec import (
    RunSpec, code_is_stored, read_phase, read_run_start, read_run_spec, source_digest, store_code, write_phase, write_run_spec,
)
from barque.serializers import canonical_json
from barque.store import ArtifactStore, open_store
from barque_operator.planpin import from_doc, plan_doc


def plan_key(run_id: str) -> str:
    return f"runs/{run_id}/operator/plan.json"


class Stores:
    """One opened store per URI (an S3 client is costly to build); thread-safe."""

    def __init__(self) -> None:
        self._stores: dict[str, ArtifactStore] = {}
        self._lock = threading.Lock()

    def get(self, uri: str) -> ArtifactStore:
        with self._lock:
            if uri not in self._stores:
                self._stores[uri] = open_store(uri)
            return self._stores[uri]


@dataclass
class PendingStart:
    """A run's start document, filled while its first reconcile decides: written once, before its
    first Job is created (``write_start``)."""

    store: ArtifactStore
    spec: RunSpec
    code_files: Mapping[str, str] | None
    pin: dict[str, Any]  # ``planpin.plan_doc`` of the plan the run started with
    phases: list[tuple[Phase, Plan]] = field(default_factory=list)


class CodeSnapshots:
    """Which code snapshots this process has seen in which store: each is stored (or found, by one
    listing of its digest's prefix) once per Pipeline version and store, not once per run. The
    store is the record: a new process looks again."""

    def __init__(self) -> None:
        self._known: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def ensure(self, store: ArtifactStore, files: Mapping[str, str]) -> None:
        key = (store.uri, source_digest(files))
        with self._lock:
            if key in self._known:
                return
        if not code_is_stored(store, files):
            store_code(store, files)
        with self._lock:
            self._known.add(key)


def write_start(store: ArtifactStore, snapshots: CodeSnapshots, start: PendingStart) -> None:
    """The code snapshot (unless already stored), then the run spec with its phases and pin."""
    if start.code_files:
        snapshots.ensure(store, start.code_files)
    write_run_spec(store, start.spec, start.code_files, phases=start.phases, pin=start.pin, code_stored=True)


def read_spec(store: ArtifactStore, run_id: str) -> RunSpec | None:
    return read_run_spec(store, run_id)


def write_plan(store: ArtifactStore, run_id: str, plan: Plan, resolved: Mapping[str, list[str]],
               pipeline: Mapping[str, Any], workers: int) -> None:
    store.put(plan_key(run_id), canonical_json(plan_doc(plan, resolved, pipeline, workers)))


def read_plan(store: ArtifactStore, run_id: str) -> tuple[Plan, dict[str, list[str]], dict[str, Any], int] | None:
    """The grown plan when there is one, else the plan the run's spec pinned at its start."""
    data = store.get(plan_key(run_id))
    if data is not None:
        return from_doc(json.loads(data))
    start = read_run_start(store, run_id)
    return from_doc(start.pin) if start is not None and start.pin is not None else None


def write_record(store: ArtifactStore, run_id: str, record: Mapping[str, Any]) -> None:
    step_records.write_step_record(store, run_id, dict(record))


def write_phase_file(store: ArtifactStore, run_id: str, phase: Phase, plan: Plan) -> None:
    write_phase(store, run_id, phase, plan)


def read_phase_file(store: ArtifactStore, run_id: str, index: int) -> Phase | None:
    found = read_phase(store, run_id, index)
    return found[0] if found else None


def read_all_records(store: ArtifactStore, run_id: str) -> dict[str, dict[str, Any]]:
    return step_records.read_step_records(store, run_id)


@dataclass
class _RunRecords:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished_jobs: set[str] = field(default_factory=set)


class RecordCache:
    """Step records per run: the store is listed only when they can have changed, and then only new
    keys are read.

    Pods write records while their phase's Job runs, and the decisions only need them once that
    Job has ended, so a reconcile lists the run's records when it first meets the run (a new or
    restarted operator) and when one of its Jobs is first seen finished; otherwise it answers from
    memory, and a reconcile that nothing triggered but an echo of its own status write reads no
    store at all. (So the status shows a running phase's steps as running until its Job ends.) A
    record can still change while its Job runs (a lost Pod's stream re-runs), so the records of a
    phase are read afresh when its Job is first seen finished.
    """

    def __init__(self) -> None:
        self._runs: dict[str, _RunRecords] = {}
        self._lock = threading.Lock()

    def refresh(
        self, store: ArtifactStore, run_id: str, plan: Plan, finished_jobs: Mapping[str, int]
    ) -> dict[str, dict[str, Any]]:
        """All records of ``run_id``; ``finished_jobs`` maps ended Job names to their phase index."""
        with self._lock:
            known = run_id in self._runs
            entry = self._runs.setdefault(run_id, _RunRecords())
        newly_finished = {name: idx for name, idx in finished_jobs.items() if name not in entry.finished_jobs}
        if known and not newly_finished:
            return dict(entry.records)
        for idx in newly_finished.values():
            for phase in plan.phases:
                if phase.index == idx:
                    for stream in phase.streams:
                        for sid in stream.steps:
                            entry.records.pop(sid, None)
        by_key = {step_records.step_record_key(run_id, sid): sid for sid in plan.steps}
        for key in store.list(f"runs/{run_id}/steps/"):
            found = by_key.get(key)
            if found is None or found in entry.records:
                continue
            rec = step_records.read_json(store, key)
            if isinstance(rec, dict):
                entry.records[found] = rec
        entry.finished_jobs.update(newly_finished)
        return dict(entry.records)

    def starting(self, run_id: str) -> None:
        """A run this process is starting: its steps have no records but those it just wrote
        (``remember``), so there is nothing to list until one of its Jobs ends."""
        with self._lock:
            self._runs.setdefault(run_id, _RunRecords())

    def remember(self, run_id: str, record: Mapping[str, Any]) -> None:
        """A record the operator itself just wrote."""
        with self._lock:
            entry = self._runs.setdefault(run_id, _RunRecords())
        entry.records[str(record["step"])] = dict(record)

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)


class SpecCache:
    """Run specs (graph, params) by run id; they never change once written."""

    def __init__(self) -> None:
        self._specs: dict[str, RunSpec] = {}
        self._plans: dict[str, tuple[Any, tuple[Plan, dict[str, list[str]], dict[str, Any], int]]] = {}

    def spec(self, store: ArtifactStore, run_id: str) -> RunSpec | None:
        if run_id not in self._specs:
            spec = read_spec(store, run_id)
            if spec is None:
                return None
            self._specs[run_id] = spec
        return self._specs[run_id]

    def put_spec(self, run_id: str, spec: RunSpec) -> None:
        """A spec this process just wrote."""
        self._specs[run_id] = spec

    def plan(self, store: ArtifactStore, run_id: str, version: Any) -> tuple[Plan, dict[str, list[str]], dict[str, Any], int] | None:
        """The pinned plan; ``version`` (its phase count on the status) says when to read it again."""
        cached = self._plans.get(run_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        found = read_plan(store, run_id)
        if found is not None:
            self._plans[run_id] = (version, found)
        return found

    def put_plan(self, run_id: str, version: Any, value: tuple[Plan, dict[str, list[str]], dict[str, Any], int]) -> None:
        self._plans[run_id] = (version, value)

    def forget(self, run_id: str) -> None:
        self._specs.pop(run_id, None)
        self._plans.pop(run_id, None)
