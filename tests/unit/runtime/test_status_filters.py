"""barca's ``status`` flags on the status document: ``--state``, ``--problems``, ``--limit``,
``--fields`` and ``--sample``. Pure: documents in, documents out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from barque.errors import BarqueError
from barque_runtime.status import STATES, Narrowing, filter_line, format_table, narrow, parse_fields, parse_states, value_sample


def _node(name: str, state: str, kind: str = "asset", last: str | None = None) -> dict[str, Any]:
    return {"id": f"p.py:{name}", "name": name, "kind": kind, "inputs": [], "partitioned": False, "env": [],
            "cache": {"state": state, "reason": "r", "detail": "d"},
            "last_materialization": None if last is None else {"status": last, "created_at": None}, "shape": None}


def _doc(*nodes: dict[str, Any]) -> dict[str, Any]:
    summary = dict.fromkeys(STATES, 0)
    for n in nodes:
        summary[n["cache"]["state"]] += 1
    return {"target": None, "targets": [], "nodes": list(nodes), "summary": summary, "total": len(nodes), "truncated": False, "root": "/p"}


DOC = _doc(_node("a", "cached"), _node("b", "stale"), _node("c", "never_run"), _node("t", "always_runs", "task", "failed"),
           _node("s", "always_runs", "sensor", "succeeded"))


def test_state_keeps_the_nodes_in_those_states_and_names_the_filter() -> None:
    out = narrow(DOC, Narrowing(states=("stale", "never_run")))
    assert [n["name"] for n in out["nodes"]] == ["b", "c"]
    assert out["filter"] == {"states": ["stale", "never_run"]} and out["total"] == 2


def test_problems_keeps_what_is_not_cached_and_tasks_whose_last_run_failed() -> None:
    assert [n["name"] for n in narrow(DOC, Narrowing(problems=True))["nodes"]] == ["b", "c", "t"]


def test_problems_and_state_must_both_hold() -> None:
    assert [n["name"] for n in narrow(DOC, Narrowing(states=("stale",), problems=True))["nodes"]] == ["b"]


def test_the_summary_still_counts_every_node() -> None:
    assert narrow(DOC, Narrowing(states=("cached",)))["summary"] == DOC["summary"]


def test_limit_truncates_after_the_filter_and_says_how_to_see_more() -> None:
    out = narrow(DOC, Narrowing(problems=True, limit=1))
    assert [n["name"] for n in out["nodes"]] == ["b"]
    assert out["truncated"] is True and out["total"] == 3
    assert out["hint"] == "pass --limit N for more, or --all for all 3 nodes"


def test_no_limit_or_a_large_one_has_no_hint() -> None:
    for limit in (None, 5):
        out = narrow(DOC, Narrowing(limit=limit))
        assert out["truncated"] is False and "hint" not in out and "filter" not in out


def test_fields_keep_only_those_keys_on_each_node() -> None:
    out = narrow(DOC, Narrowing(fields=("id", "cache")))
    assert all(set(n) == {"id", "cache"} for n in out["nodes"])


def test_never_run_is_accepted_with_a_dash() -> None:
    assert parse_states("never-run,stale") == ("never_run", "stale")


def test_failed_is_not_a_state_and_the_error_points_to_problems() -> None:
    with pytest.raises(BarqueError, match="unknown state 'failed'") as err:
        parse_states("failed")
    assert "--problems" in (err.value.hint or "")


def test_an_unknown_field_is_a_usage_error_listing_the_valid_ones() -> None:
    with pytest.raises(BarqueError, match="unknown key 'nope'") as err:
        parse_fields("id,nope")
    assert err.value.exit_code == 2 and "last_materialization" in (err.value.hint or "")


def test_the_table_says_how_many_nodes_matched() -> None:
    out = narrow(DOC, Narrowing(problems=True))
    assert filter_line(out, 5) == "3 of 5 nodes match --problems; the counts below are for every node"
    assert "3 of 5 nodes match --problems" in format_table(out)


def test_the_table_says_when_no_node_matches() -> None:
    out = narrow(DOC, Narrowing(states=("partial",)))
    assert format_table(out).startswith("No node matches --state partial.\n\n0 of 5 nodes match --state partial")


def test_a_sample_of_rows_sorts_the_keys_of_each_row() -> None:
    assert value_sample([{"b": 1, "a": 2}, {"b": 3, "a": 4}, {"b": 5}], 2) == [{"a": 2, "b": 1}, {"a": 4, "b": 3}]


def test_a_sample_of_a_dict_is_its_first_entries_and_of_a_scalar_the_value() -> None:
    assert value_sample({"z": 1, "a": 2, "m": 3}, 2) == {"z": 1, "a": 2}
    assert value_sample(7, 2) == 7


@given(st.lists(st.sampled_from(STATES), max_size=12), st.sets(st.sampled_from(STATES), min_size=1), st.integers(0, 12))
def test_a_filtered_limited_document_is_a_prefix_of_the_filtered_one(states: list[str], wanted: set[str], limit: int) -> None:
    doc = _doc(*(_node(f"n{i}", s) for i, s in enumerate(states)))
    whole = narrow(doc, Narrowing(states=tuple(sorted(wanted))))
    cut = narrow(doc, Narrowing(states=tuple(sorted(wanted)), limit=limit))
    assert cut["nodes"] == whole["nodes"][:limit] and cut["total"] == whole["total"]
    assert cut["truncated"] == (whole["total"] > limit)
