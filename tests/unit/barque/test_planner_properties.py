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
@given(dags(), st.integers(1, 5))
def test_every_step_is_planned_once(g: Graph, workers: int):
    plan = make_plan(g, workers=workers)
    placed = [s for p in plan.phases for stream in p.streams for s in stream.steps]
    assert sorted(placed) == sorted(plan.steps) and len(placed) == len(set(placed))


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(), st.integers(1, 5))
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
@given(dags(), st.integers(1, 5))
def test_no_phase_has_more_streams_than_workers(g: Graph, workers: int):
    assert all(len(p.streams) <= workers for p in make_plan(g, workers=workers).phases)


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(), st.integers(1, 5))
def test_the_same_graph_gives_the_same_plan(g: Graph, workers: int):
    assert make_plan(g, workers=workers).to_dict() == make_plan(g, workers=workers).to_dict()


@settings(max_examples=EXAMPLES, deadline=None)
@given(dags(), st.integers(1, 5), st.integers(1, 5))
def test_the_worker_count_changes_only_how_a_phase_is_packed_not_which_steps_it_holds(g: Graph, a: int, b: int):
    def phases(workers: int) -> list[set[str]]:
        return [{s for stream in p.streams for s in stream.steps} for p in make_plan(g, workers=workers).phases]

    assert phases(a) == phases(b)
