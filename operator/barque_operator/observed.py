"""What a reconcile of a PipelineRun observes (``JobView``, ``RunFacts``) and what it may ask for (actions).

Plain frozen data, so decisions can be compared and made twice in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence, Union

from barque.cachestate import StepCache
from barque.plans import Phase, Plan
from barque_operator.models import GROUP


def parse_indexes(text: str | None) -> tuple[int, ...]:
    """Kubernetes' compressed index list (``"1,3-5,7"``) as a tuple of ints."""
    out: list[int] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return tuple(out)


@dataclass(frozen=True)
class JobView:
    """The parts of a phase Job the decisions read."""

    name: str
    phase: int
    completions: int
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    outcome: str | None = None  # "Complete" or "Failed" once the Job has ended
    reason: str | None = None
    message: str | None = None
    failed_indexes: tuple[int, ...] = ()
    start_time: str | None = None
    completion_time: str | None = None

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @classmethod
    def from_job(cls, job: Mapping[str, Any]) -> "JobView":
        meta, spec, status = job["metadata"], job.get("spec") or {}, job.get("status") or {}
        outcome = reason = message = None
        for cond in status.get("conditions") or ():
            if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
                outcome, reason, message = cond["type"], cond.get("reason"), cond.get("message")
        return cls(
            name=meta["name"],
            phase=int(meta.get("labels", {}).get("barque.dev/phase", "-1")),
            completions=int(spec.get("completions") or 0),
            active=int(status.get("active") or 0),
            succeeded=int(status.get("succeeded") or 0),
            failed=int(status.get("failed") or 0),
            outcome=outcome,
            reason=reason,
            message=message,
            failed_indexes=parse_indexes(status.get("failedIndexes")),
            start_time=status.get("startTime"),
            completion_time=status.get("completionTime"),
        )


def owning_run(job: Mapping[str, Any]) -> str | None:
    """The uid of the PipelineRun that owns ``job`` (its owner reference), if any."""
    for ref in (job.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("kind") == "PipelineRun" and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/"):
            uid: str | None = ref.get("uid")
            return uid
    return None


def pod_endings(pods: Sequence[Mapping[str, Any]]) -> dict[int, tuple[str, str]]:
    """How each Job index's latest Pod ended: ``OOMKilled``, ``Signal`` (killed by a signal:
    exit code above 128) or ``PodFailure``, and its termination message (the runtime's JSON
    result, or its log tail) or, without one, its exit code and reason."""
    latest: dict[int, tuple[str, str, str]] = {}
    for pod in pods:
        annotations = pod["metadata"].get("annotations") or {}
        index = annotations.get("batch.kubernetes.io/job-completion-index")
        if index is None:
            continue
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or {}
            if term.get("message") or term.get("exitCode") is not None:
                stamp = term.get("finishedAt") or pod["metadata"].get("creationTimestamp") or ""
                code = term.get("exitCode")
                text = term.get("message") or f"exit code {code} ({term.get('reason') or 'no reason'})"
                if term.get("reason") == "OOMKilled":
                    kind = "OOMKilled"
                elif isinstance(code, int) and code > 128:
                    kind, text = "Signal", f"killed by signal {code - 128}: {text}"
                else:
                    kind = "PodFailure"
                if int(index) not in latest or stamp >= latest[int(index)][0]:
                    latest[int(index)] = (stamp, kind, text)
    return {i: (kind, text) for i, (_, kind, text) in latest.items()}


@dataclass(frozen=True)
class RunView:
    """The parts of an active run the safety sweep reads (kept in a kopf index, so small)."""

    namespace: str
    name: str
    uid: str
    phase: str | None  # the run's status.phase
    created: str | None  # metadata.creationTimestamp
    start_time: str | None
    timeout_seconds: int | None  # the run's own; a Pipeline default also bounds its Jobs' deadline
    running: tuple[tuple[int, str | None], ...] = ()  # (phase index, Job name) of phases shown Running

    @classmethod
    def from_run(cls, run: Mapping[str, Any]) -> "RunView":
        meta, spec, status = run["metadata"], run.get("spec") or {}, run.get("status") or {}
        timeout = spec.get("timeoutSeconds")
        return cls(
            namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], phase=status.get("phase"),
            created=meta.get("creationTimestamp"), start_time=status.get("startTime"), timeout_seconds=int(timeout) if timeout else None,
            running=tuple((int(p["index"]), p.get("job")) for p in status.get("phases") or ()
                          if p.get("state") == "Running"),
        )


@dataclass(frozen=True)
class RunFacts:
    """Everything one reconcile of a started run looks at."""

    name: str
    cancel: bool
    timeout_seconds: int | None
    previous: Mapping[str, Any]  # the status as observed
    base: Mapping[str, Any]  # pinned fields: runId, storeUri, sourceDigest, plan summary
    plan: Plan
    records: Mapping[str, Mapping[str, Any]]
    jobs: Mapping[int, JobView]
    verdicts: Mapping[str, StepCache] | None  # needed when a phase is about to start
    now: datetime
    limit: int = 500
    exec_phases: Mapping[int, Phase] = field(default_factory=dict)  # phase files of ended Jobs
    # (phase, index) -> how its latest Pod ended (``pod_endings``: OOMKilled, Signal, PodFailure) and its last words
    pod_endings: Mapping[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    unresolvable: Mapping[str, str] = field(default_factory=dict)  # deferred node -> why it cannot be planned
    fail_fast: bool = False  # the run's failure policy is FailFast


# -- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteRecord:
    record: Mapping[str, Any]


@dataclass(frozen=True)
class WritePhase:
    phase: Phase


@dataclass(frozen=True)
class CreateJob:
    phase: Phase


@dataclass(frozen=True)
class DeleteJob:
    name: str


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Replan:
    """Deferred nodes whose partition keys can now be read; the handler plans again."""

    nodes: tuple[str, ...]


Action = Union[WriteRecord, WritePhase, CreateJob, DeleteJob, Event, Replan]


@dataclass(frozen=True)
class Decision:
    status: dict[str, Any]
    actions: tuple[Action, ...] = ()
    finished: str | None = None  # the run's final phase when this decision ends it

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]
