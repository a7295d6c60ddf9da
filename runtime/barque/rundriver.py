"""The run driver: what a run does next, decided once for the local runner and the operator.

Pure: ``decide`` reads a ``Snapshot`` (the pinned plan, the step records, the cache verdicts,
which phases are running or ended) and returns a ``Next``; it does no I/O and keeps no memory,
so asking twice gives the same answer and a restarted operator asks again from what it
observes. The runners only carry out what it says: the local runner with worker processes,
the operator with one Indexed Job per phase.

The rules, in the order ``decide`` applies them to the phases of the plan:
- a phase whose every step has a record is done (records are final);
- a phase that is live (its worker streams or its Job run) is waited for, later phases too;
- a phase that ended with steps unrecorded (its process or pod died): the first such step
  of each stream crashed, the rest of that stream skipped;
- otherwise its steps are settled without running where they can be: ``skipped`` when an
  input failed, crashed, was skipped or cancelled, ``filtered`` when an input was filtered,
  ``cached`` when the verdict says so (the runtime reads upstream records of *this* run, so
  these records are what lets dependants find their inputs), and the streams of what is
  left start; a phase with nothing left to run starts nothing;
- with every phase done: deferred nodes whose source produced are grown into the plan
  (``grow_plan``: new phases appended, nothing that ran renumbered), and when there are none
  the run is over, failed when a step failed or crashed or a deferred node cannot be planned.
With ``fail_fast`` a failure stops the run, and so does a cancellation: every step without a
record is ``cancelled`` (the runner stops what is live) and the run is over.
When the run is over, ``hooks`` names the run hooks its outcome calls (``barque.runreport``):
they are never phases of the plan, and whatever they do the outcome stays the steps'.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

from barque.cachestate import StepCache
from barque.plans import Phase, Plan, Stream
from barque.runreport import hooks_due
from barque.steprecord import FAILURES, OK, StepRecord, StepState, cached, cancelled, crashed, filtered, skipped

_Settle = Callable[[StepRecord], None]
RUNNER = "runner"  # ``by`` of the records the local runner settles; the operator's say "operator"
# Why a step is ``cancelled`` under fail fast, whether the driver settles it or the stream that
# ran the failed step stops before it (``barque_runtime.executor``).
FAIL_FAST_REASON = "not run: the run stops at its first failure (fail fast)"


class Lost(NamedTuple):
    """Why a stream's process or pod ended without recording its steps."""

    kind: str  # WorkerDied, PodFailure, OOMKilled, ...
    message: str


class Snapshot(NamedTuple):
    """What the driver decides from. ``ended`` holds the phases whose streams ended (by index,
    the phase as it was started: only the steps that had to run, ``None`` when not known);
    ``lost`` says why a stream (phase index, stream position) ended without recording."""

    plan: Plan
    records: Mapping[str, StepRecord]
    verdicts: Mapping[str, StepCache] | None = None
    live: frozenset[int] = frozenset()
    ended: Mapping[int, Phase | None] = {}
    lost: Mapping[tuple[int, int], Lost] = {}
    unresolvable: Mapping[str, str] = {}  # deferred node -> why its keys cannot be read
    run_id: str | None = None
    by: str = RUNNER
    fail_fast: bool = False
    cancelled: bool = False  # the run was asked to stop (Ctrl-C, spec.cancel, a deadline)
    hooks: Mapping[str, str] = {}  # run hooks: node id -> on (failure, success, always)


class Outcome(NamedTuple):
    """How the run ended: ``state`` is ``succeeded``, ``failed`` or ``cancelled``."""

    state: str
    failed: tuple[str, ...] = ()  # the steps that failed or crashed, in plan order
    unresolvable: tuple[tuple[str, str], ...] = ()  # (deferred node, why), sorted


class Next(NamedTuple):
    """What to do now. ``settled`` are records to write (steps that need not run, or were
    lost); at most one of ``start`` (the phase whose streams to start, only the steps that
    must run), ``waiting`` (the live phase), ``grow`` (deferred nodes whose keys can be read
    now) and ``outcome`` is set. ``position`` is the index in ``plan.phases`` of the phase
    started or waited for (phases before it are done, after it pending); ``len(plan.phases)``
    when none."""

    settled: tuple[StepRecord, ...] = ()
    start: Phase | None = None
    waiting: int | None = None
    grow: tuple[str, ...] = ()
    outcome: Outcome | None = None
    position: int = 0
    hooks: tuple[str, ...] = ()  # with ``outcome``: the run hooks to run now


def decide(s: Snapshot) -> Next:
    """What the run does next, from ``s`` alone (see the module's rules)."""
    records = dict(s.records)
    settled: list[StepRecord] = []

    def settle(record: StepRecord) -> None:
        records[record.step] = record
        settled.append(record)

    if s.cancelled or (s.fail_fast and _any_failure(records)):
        return _stop(s, records, settled, settle)
    for position, phase in enumerate(s.plan.phases):
        steps = phase_steps(phase)
        if all(sid in records for sid in steps):
            continue
        if phase.index in s.live:
            return Next(tuple(settled), waiting=phase.index, position=position)
        if phase.index in s.ended:
            for record in lost_records(s, phase, records):
                settle(record)
            if s.fail_fast and _any_failure(records):
                return _stop(s, records, settled, settle)
            continue
        todo = _settle_phase(s, phase, records, settle)
        if todo.streams:
            return Next(tuple(settled), start=todo, position=position)
    position = len(s.plan.phases)
    grow = growable(s.plan, records, s.unresolvable)
    if grow:
        return Next(tuple(settled), grow=grow, position=position)
    done = outcome(s.plan, records, s.unresolvable)
    return Next(tuple(settled), outcome=done, position=position, hooks=hooks_due(s.hooks, done.state))


def phase_steps(phase: Phase) -> list[str]:
    return [sid for stream in phase.streams for sid in stream.steps]


def needs_verdicts(plan: Plan, records: Mapping[str, object], live: frozenset[int]) -> bool:
    """Whether ``decide`` may start a phase now, and so needs the cache verdicts (costly to
    make): the first phase with unrecorded steps is not live."""
    for phase in plan.phases:
        if any(sid not in records for sid in phase_steps(phase)):
            return phase.index not in live
    return False


def blocked_by(deps: tuple[str, ...], records: Mapping[str, StepRecord], collected: tuple[str, ...] = ()) -> StepRecord | None:
    """A settled step that keeps a step with inputs ``deps`` from running: the first input
    that did not produce (failed, crashed, skipped, filtered, cancelled). A filtered input in
    ``collected`` (read only through ``collect``) does not: the collect receives the keys that produced."""
    for dep in deps:
        rec = records.get(dep)
        if rec is not None and rec.state not in OK and not (rec.state is StepState.FILTERED and dep in collected):
            return rec
    return None


def unrun(step: str, node: str, blocker: StepRecord, *, run_id: str | None, by: str | None) -> StepRecord:
    """The record of a step whose input ``blocker`` did not produce: ``filtered`` below a
    filtered step, ``skipped`` below anything else."""
    if blocker.state is StepState.FILTERED:
        return filtered(step, node, f"upstream {blocker.step} filtered", run_id=run_id, by=by)
    return skipped(step, node, f"upstream {blocker.step} {blocker.state.value}", run_id=run_id, by=by)


def lost_records(s: Snapshot, phase: Phase, records: Mapping[str, StepRecord]) -> list[StepRecord]:
    """Records for the steps an ended phase never recorded: in each stream, the first one
    crashed with its process's last words, the ones after it skipped."""
    ran = s.ended.get(phase.index) or phase
    out: list[StepRecord] = []
    done = set(records)
    for position, stream in enumerate(ran.streams):
        culprit: str | None = None
        for sid in stream.steps:
            if sid in done:
                continue
            node = s.plan.steps[sid].node
            if culprit is None:
                culprit = sid
                why = s.lost.get((phase.index, position)) or Lost("WorkerDied", "its process ended without recording it")
                out.append(crashed(sid, node, why.kind, why.message, run_id=s.run_id, by=s.by))
            else:
                out.append(skipped(sid, node, f"not run: the process of its stream crashed at {culprit}", run_id=s.run_id, by=s.by))
            done.add(sid)
    # Steps the started phase did not list (it cannot happen but through a damaged phase file): crashed, so nothing hangs.
    for sid in phase_steps(phase):
        if sid not in done:
            out.append(crashed(sid, s.plan.steps[sid].node, "Lost", "not recorded by the process that ran its phase",
                               run_id=s.run_id, by=s.by))
    return out


def growable(plan: Plan, records: Mapping[str, StepRecord], unresolvable: Mapping[str, str]) -> tuple[str, ...]:
    """Deferred nodes whose source produced, so their keys can be read now."""
    return tuple(d.node for d in plan.deferred
                 if d.node not in unresolvable and (rec := records.get(d.waits_for)) is not None and rec.state in OK)


def outcome(plan: Plan, records: Mapping[str, StepRecord], unresolvable: Mapping[str, str]) -> Outcome:
    """The end of a run whose every step is settled."""
    failed = tuple(sid for p in plan.phases for sid in phase_steps(p) if (r := records.get(sid)) is not None and r.state in FAILURES)
    bad = tuple(sorted(unresolvable.items()))
    return Outcome("failed" if failed or bad else "succeeded", failed, bad)


def _any_failure(records: Mapping[str, StepRecord]) -> bool:
    return any(r.state in FAILURES for r in records.values())


def _settle_phase(s: Snapshot, phase: Phase, records: Mapping[str, StepRecord], settle: _Settle) -> Phase:
    """Settle what need not run (skipped, filtered, cached); the phase with only what must."""
    streams = []
    for stream in phase.streams:
        keep = []
        for sid in stream.steps:
            if sid in records:
                continue
            record = _without_running(s, sid, records)
            if record is None:
                keep.append(sid)
            else:
                settle(record)
        if keep:
            streams.append(Stream(stream.id, tuple(keep)))
    return Phase(phase.index, phase.reason, tuple(streams))


def _without_running(s: Snapshot, sid: str, records: Mapping[str, StepRecord]) -> StepRecord | None:
    step = s.plan.steps[sid]
    blocker = blocked_by(step.deps, records, step.collected)
    if blocker is not None:
        return unrun(sid, step.node, blocker, run_id=s.run_id, by=s.by)
    verdict = (s.verdicts or {}).get(sid)
    if verdict is not None and verdict.state == "cached" and verdict.record is not None:
        return cached(sid, step.node, verdict.cache_key, verdict.record, run_id=s.run_id, by=s.by)
    return None


def _stop(s: Snapshot, records: Mapping[str, StepRecord], settled: list[StepRecord], settle: _Settle) -> Next:
    """Cancel every step without a record, those of live phases too (the runner stops them):
    the run is over."""
    reason = "the run was cancelled" if s.cancelled else FAIL_FAST_REASON
    for phase in s.plan.phases:
        for sid in phase_steps(phase):
            if sid not in records:
                settle(cancelled(sid, s.plan.steps[sid].node, reason, run_id=s.run_id, by=s.by))
    done = outcome(s.plan, records, s.unresolvable)
    state = "cancelled" if s.cancelled else "failed"
    return Next(tuple(settled), outcome=Outcome(state, done.failed, done.unresolvable), position=len(s.plan.phases),
                hooks=hooks_due(s.hooks, state))
