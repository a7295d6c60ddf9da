"""The phased plan: phases run one after another; a phase's streams run in parallel.

Plain data with a stable JSON form, the same for ``barque plan``, the local runner and
the operator (which pins it on a run's status and in the store). A run's plan is made once
and then only grown (``grow_plan``) as deferred partition keys become known, in both places.

The records are ``NamedTuple``s, as ``barque.steprecord``'s: typed and immutable, and cheap to
define, which every run pays for at import (a frozen dataclass ~0.8 ms each, bench/FINDINGS.md).
``Phase``'s ``index`` field shadows ``tuple.index`` (a phase has no use for that method), and
keeps its name: every reader of a plan, the operator's included, says ``phase.index``.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple


class Step(NamedTuple):
    """One execution of a node, for one partition key when the node is partitioned.

    ``id`` is the node id, plus ``[dim=value,...]`` for a partition. ``deps`` are the step
    ids whose outputs it reads (or must wait for), in a stable order; ``inputs`` maps each
    function parameter to the step ids feeding it (several for ``collect``). ``action`` is
    ``run`` (call the function) or ``partitions`` (evaluate the node's non-literal partition
    expression and output its keys, so the operator never runs user code itself).
    ``collected`` are the deps read only through ``collect``: one that was filtered leaves
    its key out of the list rather than filtering the step.
    """

    id: str
    node: str
    partition: tuple[tuple[str, str], ...] = ()
    deps: tuple[str, ...] = ()
    inputs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    action: str = "run"
    collected: tuple[str, ...] = ()

    @property
    def produces(self) -> bool:
        """Whether the step's output is a value of its node (a ``partitions`` step's is its node's keys)."""
        return self.action == "run"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "node": self.node,
            "partition": dict(self.partition),
            "deps": list(self.deps),
            "inputs": {p: list(s) for p, s in self.inputs},
            **({"action": self.action} if self.action != "run" else {}),
            **({"collected": list(self.collected)} if self.collected else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Step":
        return cls(
            id=d["id"],
            node=d["node"],
            partition=tuple(d.get("partition", {}).items()),
            deps=tuple(d.get("deps", ())),
            inputs=tuple((p, tuple(s)) for p, s in d.get("inputs", {}).items()),
            action=d.get("action", "run"),
            collected=tuple(d.get("collected", ())),
        )


class Stream(NamedTuple):
    """Steps run in order by one worker process or pod."""

    id: str
    steps: tuple[str, ...]


class Phase(NamedTuple):
    """Streams that do not depend on each other; ``reason`` says why the phase starts."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, see the module's docstring
    reason: str
    streams: tuple[Stream, ...]


class Deferred(NamedTuple):
    """A node whose partition keys are known only after ``waits_for`` has run."""

    node: str
    waits_for: str


class Plan(NamedTuple):
    """The ordered phases plus every step by id; ``deferred`` nodes are planned later.

    ``skipped`` are the steps a partition selection leaves out because they read a key it
    did not select (a ``collect`` over a narrowed node, and what is below it)."""

    phases: tuple[Phase, ...]
    steps: Mapping[str, Step]
    targets: tuple[str, ...] = ()
    deferred: tuple[Deferred, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def total_steps(self) -> int:
        return len(self.steps)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form printed by ``barque plan`` and pinned by the operator."""
        return {
            "total_steps": self.total_steps,
            "targets": list(self.targets),
            "phases": [
                {
                    "index": p.index,
                    "reason": p.reason,
                    "streams": [{"stream_id": s.id, "steps": list(s.steps)} for s in p.streams],
                }
                for p in self.phases
            ],
            "steps": [self.steps[k].to_dict() for k in sorted(self.steps)],
            "deferred": [{"node": d.node, "waits_for": d.waits_for} for d in self.deferred],
            **({"skipped": list(self.skipped)} if self.skipped else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Plan":
        steps = {s["id"]: Step.from_dict(s) for s in d.get("steps", ())}
        phases = tuple(
            Phase(
                index=p["index"],
                reason=p["reason"],
                streams=tuple(Stream(s["stream_id"], tuple(s["steps"])) for s in p["streams"]),
            )
            for p in d.get("phases", ())
        )
        deferred = tuple(Deferred(x["node"], x["waits_for"]) for x in d.get("deferred", ()))
        return cls(phases=phases, steps=steps, targets=tuple(d.get("targets", ())), deferred=deferred, skipped=tuple(d.get("skipped", ())))


def grow_plan(pinned: Plan, fresh: Plan) -> Plan:
    """``pinned`` plus the steps of ``fresh`` (the plan made again with the keys now known) it
    lacks, as new phases numbered after its own, in ``fresh``'s phase order.

    Phases that ran keep their index and streams, so what a run shows, and the names of the
    Jobs and phase files the operator made from them, never change under it; the local
    runner grows its plan the same way, so both show the same plan for the same run."""
    phases = list(pinned.phases)
    next_index = len(phases)
    for phase in fresh.phases:
        streams: list[Stream] = []
        for stream in phase.streams:
            new = tuple(s for s in stream.steps if s not in pinned.steps)
            if new:
                streams.append(Stream(f"p{next_index}-w{len(streams)}", new))
        if streams:
            phases.append(Phase(next_index, phase.reason, tuple(streams)))
            next_index += 1
    steps = dict(pinned.steps)
    for sid, step in fresh.steps.items():
        steps.setdefault(sid, step)
    return Plan(phases=tuple(phases), steps=steps, targets=pinned.targets, deferred=fresh.deferred,
                skipped=tuple(dict.fromkeys((*pinned.skipped, *fresh.skipped))))
