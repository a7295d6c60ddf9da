"""The run driver's decisions: each is made twice (the same answer) and, once carried out, made
again (nothing more to settle); on random DAGs with random outcomes a run always ends, every step
ends in exactly one terminal state, and no step starts before its inputs are settled.

Pure: hand-built graphs planned with ``make_plan``, a simulated runner (the executor's in-stream
rule: a step whose input did not produce is not run); nothing is parsed or run.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barque.cachestate import StepCache
from barque.model import Graph
from barque.planner import make_plan
from barque.plans import Plan, grow_plan
from barque.rundriver import Lost, Next, Snapshot, blocked_by, decide, needs_verdicts, unrun
from barque.steprecord import FAILURES, OK, TERMINAL, StepRecord, StepState, filtered

from .dag_strategies import dags
from .graphs import from_, graph, inp, node, static

EXAMPLES = int(os.environ.get("BARQUE_DRIVER_EXAMPLES", "150"))
COMMIT = {"artifact": {"content_hash": "ab" * 32, "serializer": "json", "size": 2}, "output_id": "o"}


def decided(s: Snapshot) -> Next:
    """``decide`` twice: the same facts give the same answer."""
    first, second = decide(s), decide(s)
    assert first == second
    assert sum(x is not None and x != () for x in (first.start, first.waiting, first.grow, first.outcome)) == 1
    return first


def ran(step: str, state: StepState = StepState.SUCCEEDED) -> StepRecord:
    artifact = COMMIT["artifact"] if state in OK else None
    return StepRecord(step, step.split("[")[0], state, attempts=1, artifact=artifact, output_id="o" if artifact else None)


# -- the rules, one by one -----------------------------------------------------------------------

CHAIN = graph(node("a"), node("b", inputs=(inp("a", "a"),)), node("c", inputs=(inp("b", "b"),)), node("z"))


def test_a_new_run_starts_its_first_phase_with_every_step_that_must_run() -> None:
    plan = make_plan(CHAIN, workers=2)
    step = decided(Snapshot(plan, {}))
    assert step.start == plan.phases[0] and step.settled == () and step.position == 0


def test_cached_steps_are_settled_and_left_out_of_the_streams_that_start() -> None:
    plan = make_plan(CHAIN, workers=2)
    verdicts = {"p.py:z": StepCache("cached", "k", "cached", COMMIT)}
    step = decided(Snapshot(plan, {}, verdicts))
    assert [r.step for r in step.settled] == ["p.py:z"] and step.settled[0].state is StepState.CACHED
    assert [s.steps for s in step.start.streams] == [("p.py:a", "p.py:b", "p.py:c")]  # type: ignore[union-attr]
    again = decided(Snapshot(plan, {r.step: r for r in step.settled}, verdicts))
    assert again.settled == () and again.start == step.start


def test_a_fully_cached_run_starts_nothing_and_succeeds() -> None:
    plan = make_plan(CHAIN, workers=2)
    verdicts = {sid: StepCache("cached", "k", "cached", COMMIT) for sid in plan.steps}
    step = decided(Snapshot(plan, {}, verdicts))
    assert step.outcome is not None and step.outcome.state == "succeeded"
    assert {r.state for r in step.settled} == {StepState.CACHED} and len(step.settled) == 4


@pytest.mark.parametrize("state", [StepState.FAILED, StepState.CRASHED, StepState.SKIPPED, StepState.CANCELLED])
def test_a_step_whose_input_did_not_produce_is_skipped_naming_it(state: StepState) -> None:
    g = graph(node("a"), node("b", inputs=(inp("a", "a"), inp("z", "z"))), node("z"))
    plan = make_plan(g, workers=2)
    recs = {"p.py:a": ran("p.py:a", state), "p.py:z": ran("p.py:z")}
    step = decided(Snapshot(plan, recs, ended={0: plan.phases[0]}))
    assert [(r.step, r.state, r.reason) for r in step.settled] == [("p.py:b", StepState.SKIPPED, f"upstream p.py:a {state.value}")]


def test_below_a_filtered_step_its_dependants_are_filtered_not_skipped() -> None:
    blocker = StepRecord("p.py:a", "p.py:a", StepState.FILTERED)
    assert unrun("p.py:b", "p.py:b", blocker, run_id=None, by="runner").state is StepState.FILTERED
    assert blocked_by(("p.py:a",), {"p.py:a": ran("p.py:a")}) is None


def test_a_live_phase_is_waited_for_and_needs_no_verdicts() -> None:
    plan = make_plan(CHAIN, workers=2)
    step = decided(Snapshot(plan, {}, live=frozenset({0})))
    assert step.waiting == 0 and step.settled == ()
    assert not needs_verdicts(plan, {}, frozenset({0})) and needs_verdicts(plan, {}, frozenset())


def test_steps_an_ended_phase_never_recorded_crash_first_then_are_skipped() -> None:
    plan = make_plan(CHAIN, workers=1)
    lost = {(0, 0): Lost("OOMKilled", "exit code 137")}
    step = decided(Snapshot(plan, {}, ended={0: plan.phases[0]}, lost=lost))
    states = {r.step: (r.state, (r.error or {}).get("type")) for r in step.settled}
    first = plan.phases[0].streams[0].steps[0]
    assert states[first] == (StepState.CRASHED, "OOMKilled")
    assert {s for s, (st_, _) in states.items() if st_ is StepState.SKIPPED} == set(plan.steps) - {first}
    assert step.outcome is not None and step.outcome.state == "failed" and step.outcome.failed == (first,)


def test_deferred_keys_grow_the_plan_once_their_source_produced_and_unreadable_ones_fail_the_run() -> None:
    g = graph(node("src"), node("per", partitions=(from_("k", "src"),)))
    plan = make_plan(g, workers=2)
    assert decided(Snapshot(plan, {"p.py:src": ran("p.py:src")})).grow == ("p.py:per",)
    failed = decided(Snapshot(plan, {"p.py:src": ran("p.py:src")}, unresolvable={"p.py:per": "not keys"}))
    assert failed.outcome is not None and failed.outcome.state == "failed"
    assert failed.outcome.unresolvable == (("p.py:per", "not keys"),)
    assert decided(Snapshot(plan, {"p.py:src": ran("p.py:src", StepState.FAILED)})).outcome is not None


def test_a_grown_plan_keeps_its_phases_and_appends_new_ones() -> None:
    g = graph(node("src"), node("a"), node("b", inputs=(inp("a", "a"), inp("s", "src"))), node("per", partitions=(from_("k", "src"),)))
    first = make_plan(g, workers=2)
    grown = grow_plan(first, make_plan(g, workers=2, resolved_partitions={"p.py:per": ["x", "y"]}))
    assert grown.phases[: len(first.phases)] == first.phases
    assert [p.index for p in grown.phases] == list(range(len(grown.phases)))
    assert sorted(s for st_ in grown.phases[-1].streams for s in st_.steps) == ["p.py:per[k=x]", "p.py:per[k=y]"]
    assert grown.deferred == ()


def test_cancelling_settles_every_unfinished_step_cancelled_and_ends_the_run() -> None:
    plan = make_plan(CHAIN, workers=2)
    step = decided(Snapshot(plan, {"p.py:z": ran("p.py:z")}, live=frozenset({0}), cancelled=True))
    assert step.outcome is not None and step.outcome.state == "cancelled"
    assert {r.step for r in step.settled} == {"p.py:a", "p.py:b", "p.py:c"}
    assert {r.state for r in step.settled} == {StepState.CANCELLED}


def test_fail_fast_stops_at_the_first_failure_and_cancels_the_rest() -> None:
    g = graph(node("a"), node("b", inputs=(inp("a", "a"), inp("z", "z"))), node("z"), node("w", inputs=(inp("z", "z"),)))
    plan = make_plan(g, workers=2)
    recs = {"p.py:a": ran("p.py:a", StepState.FAILED)}
    step = decided(Snapshot(plan, recs, live=frozenset({0}), fail_fast=True))
    assert step.outcome is not None and step.outcome.state == "failed" and step.outcome.failed == ("p.py:a",)
    assert {r.state for r in step.settled} == {StepState.CANCELLED}
    continuing = decided(Snapshot(plan, {**recs, "p.py:z": ran("p.py:z")}, ended={0: plan.phases[0]}))
    assert continuing.start is not None and continuing.start.streams[0].steps == ("p.py:w",)  # Continue: independent streams go on


def test_a_record_of_a_state_this_version_does_not_know_reads_as_failed() -> None:
    rec = StepRecord.from_dict({"step": "s", "node": "n", "state": "exploded", "novel": 1})
    assert rec.state is StepState.FAILED and rec.extra == {"novel": 1}
    assert StepRecord.from_dict(ran("s").to_dict()) == ran("s")


# -- properties on random runs -------------------------------------------------------------------


class Simulation:
    """A runner carrying out the driver's decisions; step outcomes drawn from ``seed``."""

    def __init__(self, g: Graph, workers: int, seed: int, fail_fast: bool) -> None:
        self.g, self.workers, self.fail_fast = g, workers, fail_fast
        self.rng = random.Random(seed)
        self.plan: Plan = make_plan(g, workers=workers)
        self.records: dict[str, StepRecord] = {}
        self.ended: dict[int, object] = {}
        self.resolved: dict[str, list[str]] = {}
        self.unresolvable: dict[str, str] = {}
        self.started: list[str] = []

    def verdicts(self) -> dict[str, StepCache]:
        return {sid: StepCache("cached", "k", "cached", COMMIT) for sid in self.plan.steps if random.Random(sid).random() < 0.2}

    def snapshot(self) -> Snapshot:
        return Snapshot(self.plan, dict(self.records), self.verdicts(), ended=dict(self.ended),  # type: ignore[arg-type]
                        unresolvable=dict(self.unresolvable), fail_fast=self.fail_fast)

    def run(self) -> Next:
        for _ in range(4 * len(self.g.nodes) + 10):
            step = decided(self.snapshot())
            for rec in step.settled:
                assert rec.step not in self.records, "a settled step is settled once"
                self.records[rec.step] = rec
            assert not decided(self.snapshot()).settled, "once carried out, nothing is left to settle"
            if step.outcome is not None:
                return step
            if step.start is not None:
                self._run_phase(step)
            elif step.grow:
                for nodeid in step.grow:
                    if self.rng.random() < 0.15:
                        self.unresolvable[nodeid] = "not keys"
                    else:
                        self.resolved[nodeid] = self.rng.sample(["u", "v", "w"], self.rng.randint(1, 3))
                if set(step.grow) - set(self.unresolvable):
                    self.plan = grow_plan(self.plan, make_plan(self.g, workers=self.workers, resolved_partitions=self.resolved))
        raise AssertionError("the run did not end")

    def _run_phase(self, step: Next) -> None:
        assert step.start is not None
        for stream in step.start.streams:
            for position, sid in enumerate(stream.steps):
                deps = self.plan.steps[sid].deps
                assert all(d in self.records or d in stream.steps[:position] for d in deps), f"{sid} started before its inputs"
                assert sid not in self.records and sid not in self.started
                self.started.append(sid)
                blocker = blocked_by(deps, self.records, self.plan.steps[sid].collected)
                if blocker is not None:
                    self.records[sid] = unrun(sid, self.plan.steps[sid].node, blocker, run_id=None, by="test")
                    continue
                roll = self.rng.random()
                if roll < 0.05:
                    break  # the process dies here: the rest of the stream has no record
                if roll > 0.85:  # it returned barque.Skip
                    self.records[sid] = filtered(sid, self.plan.steps[sid].node, "skip", run_id=None, by=None, attempts=1)
                    continue
                state = StepState.FAILED if roll < 0.2 else StepState.CRASHED if roll < 0.25 else StepState.SUCCEEDED
                self.records[sid] = ran(sid, state)
        self.ended[step.start.index] = step.start


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(max_nodes=10, deferred=True), st.integers(1, 4), st.integers(0, 2**32), st.booleans())
def test_a_run_always_ends_with_every_step_in_exactly_one_terminal_state(g: Graph, workers: int, seed: int, fail_fast: bool) -> None:
    sim = Simulation(g, workers, seed, fail_fast)
    end = sim.run()
    assert set(sim.records) == set(sim.plan.steps)
    assert all(r.state in TERMINAL for r in sim.records.values())
    assert len(sim.started) == len(set(sim.started))
    assert end.outcome is not None
    failed = any(r.state in FAILURES for r in sim.records.values()) or bool(sim.unresolvable)
    assert end.outcome.state == ("failed" if failed else "succeeded")
    if not fail_fast:  # fail fast may stop a run before it grows
        pending = {d.node for d in sim.plan.deferred} - set(sim.unresolvable)
        assert all(sim.records[d.waits_for].state not in OK for d in sim.plan.deferred if d.node in pending)


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(max_nodes=10, deferred=True), st.integers(1, 4), st.integers(0, 2**32))
def test_nothing_starts_after_a_failure_under_fail_fast(g: Graph, workers: int, seed: int) -> None:
    sim = Simulation(g, workers, seed, fail_fast=True)
    sim.run()
    order = sim.started
    first_failure = next((i for i, sid in enumerate(order) if sim.records[sid].state in FAILURES), None)
    if first_failure is not None:
        later_phases = {sid for sid in order[first_failure:]}
        phase_of = {sid: p.index for p in sim.plan.phases for s in p.streams for sid in s.steps}
        failed_phase = phase_of[order[first_failure]]
        assert all(phase_of[sid] == failed_phase for sid in later_phases)


class CacheFollowsInputs(Simulation):
    """Verdicts as the cache assessment gives them: a step is cached only when its inputs are
    (its key is made of their outputs), so a step is never served before an input that runs."""

    def verdicts(self) -> dict[str, StepCache]:
        out: dict[str, StepCache] = {}
        for phase in self.plan.phases:
            for sid in (s for stream in phase.streams for s in stream.steps):
                if random.Random(sid).random() < 0.3 and all(d in out for d in self.plan.steps[sid].deps):
                    out[sid] = StepCache("cached", "k", "cached", COMMIT)
        return out


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(max_nodes=10, deferred=True), st.integers(1, 4), st.integers(0, 2**32))
def test_below_a_filtered_step_its_dependants_are_filtered_and_a_collect_over_it_still_runs(g: Graph, workers: int, seed: int) -> None:
    sim = CacheFollowsInputs(g, workers, seed, fail_fast=False)
    sim.run()
    for sid, step in sim.plan.steps.items():
        states = {d: sim.records[d].state for d in step.deps}
        if any(st not in OK and st is not StepState.FILTERED for st in states.values()):
            continue  # a failure above it decides
        filtered_direct = [d for d, st in states.items() if st is StepState.FILTERED and d not in step.collected]
        rec = sim.records[sid]
        if filtered_direct:
            assert rec.state is StepState.FILTERED and rec.reason == f"upstream {filtered_direct[0]} filtered"
        else:  # at most collected keys were filtered: it ran on the keys that produced
            assert not (rec.reason or "").startswith("upstream"), f"{sid} was blocked: {rec.reason}"


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(max_nodes=10, deferred=True), st.integers(1, 4), st.integers(0, 2**32), st.booleans())
def test_filtered_never_becomes_skipped_a_step_is_skipped_only_below_a_failure(g: Graph, workers: int, seed: int, fail_fast: bool) -> None:
    sim = CacheFollowsInputs(g, workers, seed, fail_fast)
    sim.run()
    for sid, rec in sim.records.items():
        if rec.state is StepState.SKIPPED and (rec.reason or "").startswith("upstream "):
            blocker = (rec.reason or "").split()[1]
            assert sim.records[blocker].state is not StepState.FILTERED, f"{sid} was skipped below filtered {blocker}"
        if rec.state is StepState.FILTERED and (rec.reason or "").startswith("upstream "):
            assert sim.records[(rec.reason or "").split()[1]].state is StepState.FILTERED


def test_a_filtered_key_a_collect_reads_does_not_block_it_but_a_filtered_direct_input_does() -> None:
    g = graph(node("p", partitions=(static("k", "a", "b"),)), node("t", inputs=(inp("all", "p", collect=True),)),
              node("d", inputs=(inp("x", "p"),), partitions=(from_("k", "p"),), params=("k", "p")))
    plan = make_plan(g, workers=2)
    assert plan.steps["p.py:t"].collected == ("p.py:p[k=a]", "p.py:p[k=b]")
    records = {"p.py:p[k=a]": filtered("p.py:p[k=a]", "p.py:p", "none", run_id=None, by=None), "p.py:p[k=b]": ran("p.py:p[k=b]")}
    assert blocked_by(plan.steps["p.py:t"].deps, records, plan.steps["p.py:t"].collected) is None
    blocker = blocked_by(plan.steps["p.py:d[k=a]"].deps, records, plan.steps["p.py:d[k=a]"].collected)
    assert blocker is not None and blocker.step == "p.py:p[k=a]"


def test_a_cached_filtered_verdict_settles_the_step_filtered_without_running_it() -> None:
    plan = make_plan(CHAIN, workers=2)
    verdicts = {"p.py:a": StepCache("cached", "k", "cached", {**COMMIT, "output_id": "filtered", "filtered": "no rows"})}
    settled = {r.step: r for r in decided(Snapshot(plan, {}, verdicts)).settled}
    assert (settled["p.py:a"].state, settled["p.py:a"].reason) == (StepState.FILTERED, "no rows")
    assert settled["p.py:b"].state is StepState.FILTERED and settled["p.py:c"].state is StepState.FILTERED
