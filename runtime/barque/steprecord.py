"""A step's record: its one typed form (``StepRecord``), its states (``StepState``), and the
constructors of every record a runner writes without running the step.

The stored form is a JSON object (``StepRecord.to_dict``; ``barque.records`` writes and reads
it), the same locally and in the cluster, so a record written by a pod is read by the operator,
``barque status``, ``barque why`` and history alike. Records are made here and nowhere else:
a record served from cache, skipped below a failure, lost with its process or pod, or taken
over from an earlier run has one shape whoever writes it.

``NamedTuple``, not a dataclass: typed and immutable, and cheap to define, which every
``barque run`` pays for at import.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping, NamedTuple


class StepState(enum.StrEnum):
    """Where a step ended. ``pending`` and ``running`` are not here: they are what a status
    shows before a step has a record, never a record's state."""

    SUCCEEDED = "succeeded"  # it ran and its output is stored
    CACHED = "cached"  # served without running: a sound commit record, or reused from an earlier run
    FAILED = "failed"  # it raised (after its retries), or its output could not be stored
    CRASHED = "crashed"  # its process died (a signal, OOM-killed, a lost pod): not an exception
    SKIPPED = "skipped"  # an upstream failed, crashed, was skipped or cancelled
    FILTERED = "filtered"  # it (or an upstream) chose not to produce; not a failure
    CANCELLED = "cancelled"  # the run was stopped before it finished


TERMINAL = frozenset(StepState)
OK = frozenset({StepState.SUCCEEDED, StepState.CACHED})  # an output dependants read
FAILURES = frozenset({StepState.FAILED, StepState.CRASHED})  # what fails a run
# The output id of a step that chose not to produce (``barque.Skip``, a false ``run_if``): a
# ``collect`` leaves it out of its list and its key (``barque.stepinputs``), locally and in the cluster.
FILTERED_OUTPUT = "filtered"
# Every state, as the status and the metrics list them (a step without a record first).
ALL_STATES = ("pending", "running", *(s.value for s in StepState))


def state_of(record: Mapping[str, Any] | None) -> StepState | None:
    """The state of a record as stored, ``None`` for no record or a state this version does not know."""
    if record is None:
        return None
    try:
        return StepState(str(record.get("state")))
    except ValueError:
        return None


class StepRecord(NamedTuple):
    """One step's record in one run. ``extra`` keeps fields this module does not name (a newer
    writer's), so reading and writing a record again loses nothing."""

    step: str
    node: str
    state: StepState
    run_id: str | None = None
    attempts: int = 0
    cache_key: str | None = None
    artifact: Mapping[str, Any] | None = None
    output_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_seconds: float | None = None
    error: Mapping[str, Any] | None = None  # type, message, traceback
    reason: str | None = None  # why it was skipped, cached from an earlier run, or cancelled
    logs: Mapping[str, str] | None = None
    preview: Mapping[str, str] | None = None
    by: str | None = None  # "operator" or "runner" when not written by the step's own process
    extra: Mapping[str, Any] = {}

    @property
    def ok(self) -> bool:
        return self.state in OK

    def to_dict(self) -> dict[str, Any]:
        """The stored form: every field that is set, ``extra`` merged in."""
        out: dict[str, Any] = dict(self.extra)
        for name in self._fields[:-1]:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.value if isinstance(value, StepState) else value
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StepRecord":
        """The record as stored; a state this version does not know reads as ``failed``, so a
        run never waits on a step it cannot interpret."""
        state = state_of(d) or StepState.FAILED
        named = {k: d[k] for k in cls._fields[:-1] if k in d and k not in ("state", "node")}
        extra = {k: v for k, v in d.items() if k not in cls._fields}
        return cls(node=str(d.get("node") or ""), state=state, extra=extra, **named)


def cached(step: str, node: str, cache_key: str | None, commit: Mapping[str, Any], *,
           run_id: str | None, by: str | None) -> StepRecord:
    """A step served from cache: ``commit`` is the commit record (artifact, output id, preview);
    one that holds a filtered verdict serves the step ``filtered`` again, with its reason."""
    if "filtered" in commit:
        return filtered(step, node, str(commit["filtered"]), run_id=run_id, by=by,
                        cache_key=commit.get("cache_key", cache_key))._replace(duration_seconds=0.0, extra={"from_cache": True})
    preview = commit.get("preview")
    return StepRecord(step, node, StepState.CACHED, run_id=run_id, cache_key=commit.get("cache_key", cache_key),
                      artifact=commit["artifact"], output_id=commit["output_id"], duration_seconds=0.0,
                      preview=preview if isinstance(preview, Mapping) else None, by=by)


def reused(previous: Mapping[str, Any], *, run_id: str | None, previous_run: str, by: str | None) -> StepRecord:
    """A step taken over from an earlier run's record (resume): its artifact and output id kept."""
    base = StepRecord.from_dict({k: v for k, v in previous.items() if k not in ("logs", "error")})
    return base._replace(run_id=run_id, state=StepState.CACHED, reason=f"reused from run {previous_run}", by=by,
                         extra={**base.extra, "reused_from": previous_run})


def skipped(step: str, node: str, reason: str, *, run_id: str | None, by: str | None) -> StepRecord:
    """A step not run because of what happened above it."""
    return StepRecord(step, node, StepState.SKIPPED, run_id=run_id, reason=reason, by=by)


def cancelled(step: str, node: str, reason: str, *, run_id: str | None, by: str | None) -> StepRecord:
    """A step not started because the run stopped: asked to, or at its first failure (fail fast)."""
    return StepRecord(step, node, StepState.CANCELLED, run_id=run_id, reason=reason, by=by)


def filtered(step: str, node: str, reason: str, *, run_id: str | None, by: str | None,
             cache_key: str | None = None, attempts: int = 0) -> StepRecord:
    """A step that chose not to produce (or whose upstream did): no artifact, the marker output id."""
    return StepRecord(step, node, StepState.FILTERED, run_id=run_id, attempts=attempts, cache_key=cache_key,
                      output_id=FILTERED_OUTPUT, reason=reason, by=by)


def crashed(step: str, node: str, kind: str, message: str, *, run_id: str | None, by: str | None, attempts: int = 0) -> StepRecord:
    """A step whose process (worker or pod) died without recording it: ``kind`` names how
    (``WorkerDied``, ``PodFailure``, ``OOMKilled``)."""
    return StepRecord(step, node, StepState.CRASHED, run_id=run_id, attempts=attempts, by=by,
                      error={"type": kind, "message": message, "traceback": ""})


def failed(step: str, node: str, kind: str, message: str, *, run_id: str | None, by: str | None, attempts: int = 0) -> StepRecord:
    """A step that failed outside its own code (its runner could not run it)."""
    return StepRecord(step, node, StepState.FAILED, run_id=run_id, attempts=attempts, by=by,
                      error={"type": kind, "message": message, "traceback": ""})
