"""The embedded runner: a loop over the run driver (``barque.rundriver``) with worker processes.

No cluster, no server, no config: the store defaults to ``.barque/`` in the project root.
Every run decision (what is cached or skipped without running, which phase starts, when the
plan grows by partition keys an upstream revealed, how the run ends) is the driver's, the same
the operator asks; this module only assesses the cache, runs the phases it is told to on the
workers, and reads deferred keys with the one reader (``barque.deferred``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from barque.artifacts import project_ref_scope
from barque.cachestate import MANUAL_NEVER_COMPUTED, MANUAL_STALE, StepCache, assess
from barque import rundriver
from barque.deferred import read_deferred_keys
from barque.dotenv import declared_env_values
from barque.errors import BarqueError, StoreError
from barque.parsing import parse_project
from barque.plans import Phase, Plan, grow_plan
from barque.planner import make_plan
from barque.targets import refresh_nodes, resolve_targets
from barque.runreport import hooks_of
from barque.records import read_step_records, write_step_record, write_stream_records
from barque.resume import reusable_records
from barque.runspec import RunSpec, read_run_spec, write_run_spec
from barque.steprecord import FAILURES, StepRecord, cached
from barque.store import ArtifactStore, open_store
from barque.trust import env_digests
from barque.batchflag import apply_batch_flags, parse_batch_flags
from barque_runtime.history import new_run_id
from barque_runtime.progress import Progress

if TYPE_CHECKING:
    from barque_runtime.workers import Job, WorkerPool


class _Fields:
    """``repr`` and ``==`` over ``_fields``, as a dataclass has them.

    The two classes below were dataclasses; making them at import cost ~1.4 ms of every run.
    """

    _fields: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: unhashable, as before

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)


class RunOptions(_Fields):
    """How a local run is asked for, as the CLI and ``barque.run`` take it."""

    _fields = ("files", "targets", "workers", "store", "params", "no_cache", "refresh", "cascade", "selection", "fail_fast",
               "resume_from", "batch")

    def __init__(
        self,
        files: Sequence[str],
        targets: Sequence[str] = (),
        workers: int | None = None,
        store: str | None = None,
        params: Mapping[str, str] | None = None,
        no_cache: bool = False,
        refresh: Sequence[str] = (),
        cascade: bool = True,
        selection: Mapping[str, Sequence[str]] | None = None,
        fail_fast: bool = False,
        resume_from: str | None = None,
        batch: Sequence[str] = (),
    ) -> None:
        self.files = files
        self.targets = targets
        self.workers = workers
        self.store = store
        self.params: Mapping[str, str] = {} if params is None else params
        self.no_cache = no_cache
        self.refresh = refresh  # asset names to recompute even when cached, and (cascade) what reads them
        self.cascade = cascade
        self.selection: Mapping[str, Sequence[str]] = {} if selection is None else selection  # --partition
        self.fail_fast = fail_fast  # --fail-fast: the first failure stops the run
        self.resume_from = resume_from  # --resume-from: an earlier run whose successful steps this one reuses
        self.batch = batch  # --batch [NODE=]none|all|N: batch= for this run (``barque.batchflag``)


class LocalRun(_Fields):
    """A planned local run: graph, store, spec; ``records`` fills in as steps finish."""

    _fields = ("options", "spec", "store", "store_uri", "resolved", "records", "phases_run", "reasons", "hooks")

    def __init__(
        self,
        options: RunOptions,
        spec: RunSpec,
        store: ArtifactStore,
        store_uri: str,
        resolved: dict[str, list[str]],
        records: dict[str, dict[str, Any]] | None = None,
        phases_run: int = 0,
        reasons: dict[str, str] | None = None,
        hooks: tuple[str, ...] = (),
    ) -> None:
        self.options = options
        self.spec = spec
        self.store = store
        self.store_uri = store_uri
        self.resolved = resolved
        self.records: dict[str, dict[str, Any]] = {} if records is None else records
        self.phases_run = phases_run
        # Why the planner sent each step to run (``changed: code``, ``never materialized``):
        # a worker's record says what happened, not why, and the summary's ``steps[]`` says both.
        self.reasons: dict[str, str] = {} if reasons is None else reasons
        self.hooks = hooks  # the run hooks the driver said the run's outcome calls

    @property
    def root(self) -> str:
        return self.spec.graph.root

    def plan(self) -> Plan:
        return make_plan(self.spec.graph, self.options.targets or None, self.options.workers, self.resolved, selection=self.options.selection)

    def assess(self, plan: Plan) -> dict[str, StepCache]:
        spec = self.spec
        return assess(spec.graph, plan, self.store, spec.params, spec.env, spec.no_cache, spec.refresh, spec.overrides,
                      scope=spec.ref_scope)


def plan_with_stored_keys(run: LocalRun) -> tuple[Plan, dict[str, StepCache]]:
    """The plan and its verdicts, grown by the partition keys that cached sources already hold.

    What ``barque plan --cache`` and ``--dry-run`` show, so they list the steps a run would:
    the plan grows by the driver's rule (``growable``, ``grow_plan``) as a run's does."""
    plan = run.plan()
    while True:
        verdicts = run.assess(plan)
        refuse_uncomputed_manual(run, plan, verdicts)
        served = {d.waits_for: cached(d.waits_for, plan.steps[d.waits_for].node, v.cache_key, v.record, run_id=None, by=rundriver.RUNNER)
                  for d in plan.deferred if (v := verdicts.get(d.waits_for)) is not None and v.state == "cached" and v.record is not None}
        grow = rundriver.growable(plan, served, {})
        keys, _ = read_deferred_keys(run.store, run.spec.run_id, plan, grow, {sid: r.to_dict() for sid, r in served.items()}) if grow else ({}, {})
        if not keys:
            return plan, verdicts
        run.resolved.update(keys)
        plan = grow_plan(plan, run.plan())


def prepare(options: RunOptions, *, hashes: bool = True) -> LocalRun:
    """Parse and open the store.

    ``hashes=False`` leaves the code hashes out of the graph (a plan needs none; a cache key
    made from such a graph raises)."""
    if options.workers is not None and options.workers < 1:
        raise BarqueError(f"workers={options.workers} cannot run anything", hint="give 1 or more workers, or None for one per CPU")
    if not options.cascade and not options.refresh:
        raise BarqueError("--no-cascade only changes what --refresh does", hint="name the assets to refresh: --refresh a,b --no-cascade")
    graph = parse_project(options.files, hashes=hashes, warnings=True)  # barca's plan warnings; cached with the parse
    graph = apply_batch_flags(graph, parse_batch_flags(options.batch))
    store_uri = options.store or str(Path(graph.root) / ".barque")
    target_env = {name for n in graph.nodes.values() for name in n.env}
    store = open_store(store_uri)
    targets = tuple(resolve_targets(graph, options.targets or None))
    hooks = [t for t in targets if graph.nodes[t].on]
    if hooks:
        raise BarqueError(f"{', '.join(hooks)} is a run hook (on=): it runs after a run, not as its target",
                          hint="name the steps to run; the hook runs after them when the run's outcome calls it")
    spec = RunSpec(
        run_id=new_run_id(),
        graph=graph,
        params=dict(options.params),
        # Digests, never the values: the spec and every cache key derived from it reach the store.
        env=env_digests(store, declared_env_values(target_env, os.environ, graph.root)),
        no_cache=options.no_cache,
        targets=targets,
        refresh=refresh_nodes(graph, targets, options.refresh, options.cascade) if options.refresh else {},
        ref_scope=project_ref_scope(graph.root),
        fail_fast=options.fail_fast,
    )
    return LocalRun(options, spec, store, store_uri, {})


class LazyPool:
    """The worker pool, made (and multiprocessing imported) only when a phase has work."""

    def __init__(self, run: LocalRun) -> None:
        self._run = run
        self._pool: WorkerPool | None = None

    def run(self, jobs: list[Job]) -> Iterator[tuple[str, list[dict[str, Any]], bool]]:
        if self._pool is None:
            from barque_runtime.workers import WorkerPool

            r = self._run
            self._pool = WorkerPool(r.options.workers or os.cpu_count() or 1, r.spec, r.store_uri, r.root)
        return self._pool.run(jobs)

    def stop(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Kill the workers at once; the records they had sent that were not read yet, by stream."""
        pool, self._pool = self._pool, None
        return pool.stop() if pool is not None else []

    def close(self, force: bool = False) -> None:
        if self._pool is not None:
            self._pool.close(force=force)
            self._pool = None


def execute(run: LocalRun, progress: Progress) -> Plan:
    """Run the plan: a loop over the run driver, which says what to settle, start and grow;
    the phases it starts run on worker processes. Returns the plan as it grew."""
    pool = LazyPool(run)
    try:
        plan = run.plan()
        typed = {sid: StepRecord.from_dict(rec) for sid, rec in run.records.items()}
        _take_resumed(run, plan, typed)
        verdicts = _assessed(run, plan, progress)
        ended: dict[int, Phase | None] = {}
        unresolvable: dict[str, str] = {}
        hooks = hooks_of(run.spec.graph.nodes.values())
        while True:
            step = rundriver.decide(rundriver.Snapshot(plan, typed, verdicts, ended=ended, unresolvable=unresolvable,
                                                       run_id=run.spec.run_id, fail_fast=run.options.fail_fast, hooks=hooks))
            for record in step.settled:
                _note(run, typed, record.to_dict(), progress)
            if step.start is not None:
                _run_phase(run, plan, step.start, pool, typed, progress)
                ended[step.start.index] = step.start
            elif step.grow:
                keys, bad = read_deferred_keys(run.store, run.spec.run_id, plan, step.grow, run.records)
                run.resolved.update(keys)
                unresolvable.update(bad)
                if keys:
                    plan = grow_plan(plan, run.plan())
                    _take_resumed(run, plan, typed)  # the earlier run's keys of a grown node too
                    verdicts = _assessed(run, plan, progress)
            else:
                run.hooks = step.hooks
                if step.outcome is not None and step.outcome.unresolvable:
                    for node, why in step.outcome.unresolvable:
                        sys.stderr.write(f"barque: cannot plan {node}: {why}\n")
                return plan
    except BaseException:
        pool.close(force=True)
        raise
    finally:
        pool.close()


def _take_resumed(run: LocalRun, plan: Plan, typed: dict[str, StepRecord]) -> None:
    """Under ``--resume-from``, record what ``plan`` reuses from the earlier run. The records
    are stored in this run, as the operator stores them, so what read them (``barque why``,
    ``barque graph --run``) can say which run each value was taken from."""
    if run.options.resume_from:
        taken = resumed_records(run, plan, run.options.resume_from)
        for rec in taken.values():
            write_step_record(run.store, run.spec.run_id, rec)
        run.records.update(taken)
        typed.update((sid, StepRecord.from_dict(rec)) for sid, rec in taken.items())


def resumed_records(run: LocalRun, plan: Plan, previous: str) -> dict[str, dict[str, Any]]:
    """The records ``run`` takes over from the earlier local run ``previous`` (``barque.resume``'s
    rule, the cluster's), from the spec and records that run left in the store
    (``keep_for_resume``)."""
    prev_spec = read_run_spec(run.store, previous)
    if prev_spec is None:
        raise BarqueError(
            f"--resume-from {previous}: that run left nothing to resume from in the store {run.store_uri}",
            hint="only a run that failed or was cancelled keeps what a resume needs; `barque history` lists the runs",
        )
    if prev_spec.overrides:
        raise BarqueError(f"--resume-from {previous}: that run stubbed outputs (overrides=), which a real run must not reuse",
                          hint="resume from a run without overrides, or run again")
    taken = reusable_records(
        plan=plan, graph=run.spec.graph, params=run.spec.params, previous_graph=prev_spec.graph,
        previous_params=prev_spec.params, previous_records=read_step_records(run.store, previous),
        previous_run=previous, run_id=run.spec.run_id, by=rundriver.RUNNER,
    )
    # A grown plan asks again: the steps this run recorded already keep their records.
    return {sid: rec for sid, rec in taken.items() if sid not in run.records}


def keep_for_resume(run: LocalRun) -> None:
    """Store what ``--resume-from`` reads: the run spec, and the records of the steps the driver
    settled as cached or reused (a worker stores the records of the steps it ran). A store that
    refuses the writes costs the resume, never the run's summary: a warning says so."""
    try:
        write_run_spec(run.store, run.spec)
        for rec in run.records.values():
            if rec.get("by") == rundriver.RUNNER and rec.get("state") in ("cached", "succeeded"):
                write_step_record(run.store, run.spec.run_id, dict(rec))
    except (OSError, StoreError) as err:
        sys.stderr.write(f"barque: warning: run {run.spec.run_id} cannot be resumed from: the store refused its spec: {err}\n")


def _assessed(run: LocalRun, plan: Plan, progress: Progress) -> dict[str, StepCache]:
    """The cache verdicts of ``plan``'s steps, with barca's refusal and note for Manual nodes."""
    verdicts = run.assess(plan)
    refuse_uncomputed_manual(run, plan, verdicts)
    _note_stale_manual(run, plan, verdicts)
    progress.planned(plan, verdicts)
    for sid, verdict in verdicts.items():
        if sid not in run.records:
            run.reasons[sid] = verdict.reason
    return verdicts


def _run_phase(run: LocalRun, plan: Plan, phase: Phase, pool: LazyPool, typed: dict[str, StepRecord], progress: Progress) -> None:
    """Run the streams of ``phase`` on the workers, one job per stream, and note and store their
    records, one store object per stream (``barque.records``).
    Under ``--fail-fast`` a stream that failed stops the others (their workers are killed); the
    driver then cancels what has no record."""
    jobs: list[Job] = [(stream.id, [plan.steps[s].to_dict() for s in stream.steps], _known_for(run, plan, stream.steps), {})
                       for stream in phase.streams]
    run.phases_run += 1
    stored: dict[str, list[dict[str, Any]]] = {}  # records of the streams not over yet

    def note(stream_id: str, recs: list[dict[str, Any]]) -> None:
        for rec in recs:
            _note(run, typed, rec, progress)
        stored.setdefault(stream_id, []).extend(recs)

    def stop() -> None:  # what the killed workers had finished counts, and is stored below
        for stream_id, recs in pool.stop():
            note(stream_id, recs)

    try:
        for stream_id, recs, ended in pool.run(jobs):
            note(stream_id, recs)
            if not ended:
                continue
            done = stored.pop(stream_id)
            _store_stream(run, stream_id, done)
            if run.options.fail_fast and any(typed[r["step"]].state in FAILURES for r in done):
                stop()
                return
    except BaseException:  # a cancel: stop the workers now, keeping what they finished
        stop()
        raise
    finally:  # streams that fail-fast or an interrupt cut short keep the records of what they finished
        for stream_id, recs in stored.items():
            if recs:
                _store_stream(run, stream_id, recs)


def _store_stream(run: LocalRun, stream_id: str, recs: list[dict[str, Any]]) -> None:
    """Store one stream's records; a store that refuses (a full disk) costs the stored copy, not the run."""
    try:
        write_stream_records(run.store, run.spec.run_id, stream_id, recs)
    except StoreError as err:  # the run has the records; its summary does not need the store's copy
        sys.stderr.write(f"barque: warning: the record of the steps of stream {stream_id} was not stored: {err}\n")


def _note(run: LocalRun, typed: dict[str, StepRecord], rec: dict[str, Any], progress: Progress) -> None:
    run.records[rec["step"]] = rec
    typed[rec["step"]] = StepRecord.from_dict(rec)
    progress.finished(rec)


def refuse_uncomputed_manual(run: LocalRun, plan: Plan, verdicts: Mapping[str, StepCache]) -> None:
    """A ``Manual`` node the run reads but that was never computed: exit 2, naming the command
    that computes it, as barca does. With no target every asset is asked for, so it runs."""
    if not run.options.targets:
        return
    never = sorted({plan.steps[sid].node for sid, v in verdicts.items() if v.reason == MANUAL_NEVER_COMPUTED and sid not in run.records})
    if never:
        name = never[0].rpartition(":")[2]
        files = " ".join(run.options.files)
        raise BarqueError(
            f"{never[0]!r} is Manual and has never been computed; a Manual node is computed only when named in --refresh",
            hint=f"compute it first: barque get {name} {files} --refresh {name}".replace("  ", " "),
        )


def _note_stale_manual(run: LocalRun, plan: Plan, verdicts: Mapping[str, StepCache]) -> None:
    """barca's note for a Manual node read as it is although its code or inputs changed."""
    files = " ".join(run.options.files)
    for node in sorted({plan.steps[sid].node for sid, v in verdicts.items() if v.reason == MANUAL_STALE and sid not in run.records}):
        name = node.rpartition(":")[2]
        sys.stderr.write(f"barque: note: {name} is Manual and stale; barque get {name} {files} --refresh {name} to recompute\n".replace("  ", " "))


def _known_for(run: LocalRun, plan: Plan, todo: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Records of the steps outside this stream that its steps read, so workers need not ask the store."""
    wanted = {d for sid in todo for d in plan.steps[sid].deps}
    return {d: run.records[d] for d in wanted if d in run.records}
