"""The planner: partitions become steps, chains fuse into streams, phases start where streams meet."""

from __future__ import annotations

import pytest

from barque.errors import PlanError
from barque.planner import make_plan
from barque.plans import Step

from .graphs import from_, graph, inp, node, static


def stream_steps(plan):
    return [[list(s.steps) for s in p.streams] for p in plan.phases]


def test_a_chain_is_one_stream_in_one_phase():
    g = graph(node("a"), node("b", inputs=(inp("x", "a"),)), node("c", inputs=(inp("x", "b"),)))
    assert stream_steps(make_plan(g, workers=4)) == [[["p.py:a", "p.py:b", "p.py:c"]]]


def test_a_fan_in_starts_a_new_phase():
    g = graph(node("a"), node("b"), node("c", inputs=(inp("x", "a"), inp("y", "b"))))
    plan = make_plan(g, workers=4)
    assert stream_steps(plan) == [[["p.py:a"], ["p.py:b"]], [["p.py:c"]]]
    assert "needs 2 upstream steps" in plan.phases[1].reason


def test_independent_chains_are_packed_into_at_most_workers_streams():
    g = graph(*(node(f"n{i}") for i in range(10)))
    plan = make_plan(g, workers=3)
    assert len(plan.phases) == 1
    assert sorted(len(s.steps) for s in plan.phases[0].streams) == [3, 3, 4]


def test_no_stream_depends_on_another_stream_of_its_phase():
    g = graph(
        node("a"), node("b", inputs=(inp("x", "a"),)), node("c", inputs=(inp("x", "a"),)),
        node("d", inputs=(inp("x", "b"), inp("y", "c"))),
    )
    plan = make_plan(g, workers=2)
    for phase in plan.phases:
        owner = {sid: s.id for s in phase.streams for sid in s.steps}
        for sid, stream in owner.items():
            assert all(owner.get(dep, stream) == stream for dep in plan.steps[sid].deps)


def test_static_partitions_make_one_step_per_key():
    g = graph(node("sales", partitions=(static("region", "emea", "amer"),)))
    assert sorted(make_plan(g).steps) == ["p.py:sales[region=amer]", "p.py:sales[region=emea]"]


def test_partitions_from_a_partitioned_node_pairs_keys():
    g = graph(node("sales", partitions=(static("region", "emea", "amer"),)), node("margin", partitions=(from_("region", "sales"),)))
    step = make_plan(g).steps["p.py:margin[region=emea]"]
    assert step.deps == ("p.py:sales[region=emea]",)
    assert dict(step.inputs) == {"sales": ("p.py:sales[region=emea]",)}


def test_collect_reads_every_partition_in_key_order():
    g = graph(node("sales", partitions=(static("region", "emea", "amer"),)), node("total", inputs=(inp("all", "sales", collect=True),)))
    step = make_plan(g).steps["p.py:total"]
    assert dict(step.inputs)["all"] == ("p.py:sales[region=amer]", "p.py:sales[region=emea]")


def test_a_dependant_without_collect_inherits_partitions():
    g = graph(node("sales", partitions=(static("region", "emea", "amer"),)), node("clean", inputs=(inp("s", "sales"),)))
    assert {s for s in make_plan(g).steps if "clean" in s} == {"p.py:clean[region=amer]", "p.py:clean[region=emea]"}


def test_partitions_from_an_unpartitioned_source_are_deferred_until_its_keys_are_known():
    g = graph(node("keys"), node("per_key", partitions=(from_("k", "keys"),)), node("after", inputs=(inp("x", "per_key"),)))
    first = make_plan(g)
    assert [(d.node, d.waits_for) for d in first.deferred] == [("p.py:per_key", "p.py:keys"), ("p.py:after", "p.py:keys")]
    grown = make_plan(g, resolved_partitions={"p.py:per_key": ["x", "y"]})
    assert not grown.deferred
    assert "p.py:after[k=y]" in grown.steps and grown.steps["p.py:per_key[k=x]"].deps == ("p.py:keys",)


def test_targets_select_only_their_upstream():
    g = graph(node("a"), node("b", inputs=(inp("x", "a"),)), node("c"))
    assert sorted(make_plan(g, targets=["b"]).steps) == ["p.py:a", "p.py:b"]


def test_tasks_run_only_when_targeted():
    g = graph(node("a"), node("t", kind="task", inputs=(inp("x", "a"),)))
    assert sorted(make_plan(g).steps) == ["p.py:a"]
    assert sorted(make_plan(g, targets=["t"]).steps) == ["p.py:a", "p.py:t"]


def test_an_unknown_target_suggests_close_names():
    with pytest.raises(PlanError, match="did you mean summary"):
        make_plan(graph(node("summary")), targets=["sumary"])


def test_the_plan_is_deterministic_and_round_trips_through_json():
    from barque.plans import Plan

    g = graph(*(node(f"n{i}", inputs=(inp("x", f"n{i-1}"),) if i % 3 else ()) for i in range(30)))
    one, two = make_plan(g, workers=2), make_plan(g, workers=2)
    assert one.to_dict() == two.to_dict()
    assert Plan.from_dict(one.to_dict()) == one


def test_a_step_joins_its_upstreams_stream_when_every_other_reader_waits_for_it():
    g = graph(node("a"), node("b", inputs=(inp("x", "a"),)), node("c", inputs=(inp("x", "a"), inp("y", "b"))))
    assert stream_steps(make_plan(g, workers=4)) == [[["p.py:a", "p.py:b", "p.py:c"]]]


def test_a_fan_out_keeps_its_branches_parallel():
    g = graph(node("a"), node("b", inputs=(inp("x", "a"),)), node("c", inputs=(inp("x", "a"),)))
    assert stream_steps(make_plan(g, workers=4)) == [[["p.py:a"]], [["p.py:b"], ["p.py:c"]]]


def test_planned_steps_equal_steps_built_by_their_constructor_with_every_field_named():
    # Unpartitioned steps are built positionally (the planner's fast path): each field in its place.
    g = graph(node("a"), node("b", inputs=(inp("x", "a"),)), node("s", partitions=(static("k", "1", "2"),)),
              node("c", inputs=(inp("x", "b"), inp("y", "s", collect=True))))
    for step in make_plan(g, workers=2).steps.values():
        rebuilt = Step(**{n: getattr(step, n) for n in Step._fields})
        assert rebuilt == step and hash(rebuilt) == hash(step)
        assert isinstance(step.id, str) and isinstance(step.deps, tuple) and step.action in ("run", "partitions")
