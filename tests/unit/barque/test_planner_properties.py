"""Properties every plan keeps, on random graphs (hypothesis): what the runners rely on.

Pure: hand-built graphs (random DAGs of assets, some partitioned, some collecting) planned with
``make_plan``; nothing is parsed or run.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from barque.model import Graph
from barque.planner import make_plan

from .dag_strategies import dags

EXAMPLES = int(os.environ.get("BARQUE_PLANNER_EXAMPLES", "200"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(1, 5))
def test_every_step_is_planned_once(g: Graph, workers: int):
    plan = make_plan(g, workers=workers)
    placed = [s for p in plan.phases for stream in p.streams for s in stream.steps]
    assert sorted(placed) == sorted(plan.steps) and len(placed) == len(set(placed))


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(1, 5))
def test_a_step_only_reads_what_an_earlier_phase_or_earlier_in_its_stream_produced(g: Graph, workers: int):
    plan = make_plan(g, workers=workers)
    done: set[str] = set()
    for phase in plan.phases:
        for stream in phase.streams:
            before = set(done)
            for sid in stream.steps:
                assert set(plan.steps[sid].deps) <= before, (sid, plan.steps[sid].deps)
                before.add(sid)
        done |= {s for stream in phase.streams for s in stream.steps}


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(1, 5))
def test_no_phase_has_more_streams_than_workers(g: Graph, workers: int):
    assert all(len(p.streams) <= workers for p in make_plan(g, workers=workers).phases)


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(1, 5))
def test_the_same_graph_gives_the_same_plan(g: Graph, workers: int):
    assert make_plan(g, workers=workers).to_dict() == make_plan(g, workers=workers).to_dict()


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(1, 5), st.integers(1, 5))
def test_the_worker_count_changes_only_how_a_phase_is_packed_not_which_steps_it_holds(g: Graph, a: int, b: int):
    def phases(workers: int) -> list[set[str]]:
        return [{s for stream in p.streams for s in stream.steps} for p in make_plan(g, workers=workers).phases]

    assert phases(a) == phases(b)


def _stream_of(plan) -> dict[str, tuple[int, int]]:
    return {sid: (p.index, i) for p in plan.phases for i, stream in enumerate(p.streams) for sid in stream.steps}


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(1, 5))
def test_the_keys_of_a_batched_node_in_a_phase_share_one_stream_so_calls_group_as_in_barca(g: Graph, workers: int):
    plan = make_plan(g, workers=workers)
    where = _stream_of(plan)
    streams: dict[tuple[str, int], set[int]] = {}
    for sid, step in plan.steps.items():
        if g.nodes[step.node].batch is not None and step.action == "run":
            streams.setdefault((step.node, where[sid][0]), set()).add(where[sid][1])
    assert all(len(found) == 1 for found in streams.values()), streams


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(2, 5))
def test_a_heavy_step_shares_its_stream_with_no_light_step_when_there_are_two_workers_or_more(g: Graph, workers: int):
    plan = make_plan(g, workers=workers)
    for phase in plan.phases:
        for stream in phase.streams:
            weights = {g.nodes[plan.steps[sid].node].weight > 1 and plan.steps[sid].action == "run" for sid in stream.steps}
            assert len(weights) == 1, (phase.index, stream.steps)


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(options=True), st.integers(1, 5))
def test_a_heavy_step_has_a_stream_alone_when_the_workers_outnumber_the_heavy_steps_of_its_phase(g: Graph, workers: int):
    plan = make_plan(g, workers=workers)

    def unit(sid: str) -> str | None:  # a heavy step alone; a heavy batched node's keys together
        step, n = plan.steps[sid], g.nodes[plan.steps[sid].node]
        return None if n.weight == 1 or step.action != "run" else step.node if n.batch is not None else sid

    for phase in plan.phases:
        units = {unit(s) for stream in phase.streams for s in stream.steps} - {None}
        if units and len(units) < workers:
            for stream in phase.streams:
                assert len({unit(s) for s in stream.steps}) == 1, (phase.index, stream.steps)
