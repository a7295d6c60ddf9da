"""The planner's streams for barca's ``weight=`` and ``batch=`` (``planner._units``). Pure: hand-built graphs."""

from __future__ import annotations


from barque.model import BatchSpec
from barque.planner import make_plan

from .graphs import graph, inp, node, static


def _streams(plan) -> list[tuple[str, ...]]:
    return [stream.steps for phase in plan.phases for stream in phase.streams]


def test_a_step_of_weight_above_one_gets_a_stream_of_its_own_so_its_weight_holds_only_while_it_runs():
    heavy = node("heavy")._replace(weight=3)
    g = graph(node("a"), node("b"), node("c"), heavy)
    streams = _streams(make_plan(g, workers=2))
    assert ("p.py:heavy",) in streams
    assert sorted(s for stream in streams if stream != ("p.py:heavy",) for s in stream) == ["p.py:a", "p.py:b", "p.py:c"]


def test_a_heavy_step_ends_its_chain_so_what_reads_it_does_not_hold_its_weight():
    heavy = node("heavy")._replace(weight=2)
    g = graph(heavy, node("after", inputs=(inp("x", "heavy"),)))
    plan = make_plan(g, workers=2)
    assert _streams(plan) == [("p.py:heavy",), ("p.py:after",)]


def test_on_one_worker_a_heavy_step_shares_the_one_stream():
    g = graph(node("a"), node("heavy")._replace(weight=2))
    assert _streams(make_plan(g, workers=1)) == [("p.py:a", "p.py:heavy")]


def test_every_key_of_a_batched_node_is_in_one_stream_on_many_workers():
    batched = node("b", partitions=(static("k", "1", "2", "3", "4", "5"),))._replace(batch=BatchSpec("size", size=2))
    g = graph(batched, node("other"))
    streams = _streams(make_plan(g, workers=4))
    keys = [stream for stream in streams if any(s.startswith("p.py:b[") for s in stream)]
    assert len(keys) == 1 and len(keys[0]) == 5
