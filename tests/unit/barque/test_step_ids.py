"""Step ids name one node and one partition: names that look like id syntax are refused,
partition keys with id syntax are encoded, and no plan has two steps with one id.

Real parts: the parser on files in a temporary directory, the planner, and (for the end-to-end
cases) the ``barque`` CLI in a child process with a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.errors import PlanError
from barque.planner import make_plan, partition_label, step_id

from ..runtime.clirun import pipeline, run_ok
from .fixtures.parse import parse, parse_error, write
from .graphs import graph, node, static

HEADER = "from barque import asset, collect, partitions, partitions_from\n"


@pytest.mark.parametrize("name", ["x[r=a]", "a,b", "k=v", "x]", "x#partitions", "two\nlines"])
def test_a_name_using_step_id_syntax_is_a_definition_error(tmp_path: Path, name: str) -> None:
    write(tmp_path, {"p.py": HEADER + f"\n@asset(name={name!r})\ndef x() -> int:\n    return 1\n"})
    err = parse_error(tmp_path)
    assert err.where == "p.py:3:13"
    assert "step ids" in err.message
    assert "without [ ] , = #" in (err.hint or "")


def test_a_name_that_would_share_a_step_id_with_a_partition_is_refused(tmp_path: Path) -> None:
    # The reported case: x's partition r=a and the node named "x[r=a]" had one id.
    write(tmp_path, {"p.py": HEADER + """
@asset(name="x", partitions={"r": partitions(["a", "b"])})
def x(r: str) -> str:
    return r

@asset(name="x[r=a]")
def other() -> str:
    return "other"
"""})
    err = parse_error(tmp_path)
    assert err.where == "p.py:7:13" and "'['" in err.message


def test_an_empty_name_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '\n@asset(name="")\ndef x() -> int:\n    return 1\n'})
    err = parse_error(tmp_path)
    assert err.where == "p.py:3:13" and "cannot be empty" in err.message


def test_a_name_with_surrounding_spaces_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '\n@asset(name=" x")\ndef x() -> int:\n    return 1\n'})
    assert "starts or ends with a space" in parse_error(tmp_path).message


def test_ordinary_names_are_still_accepted(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '\n@asset(name="team/daily-sales.v2:raw")\ndef x() -> int:\n    return 1\n'})
    assert list(parse(tmp_path).nodes) == ["team/daily-sales.v2:raw"]


def test_partition_keys_with_id_syntax_are_percent_encoded_in_the_label() -> None:
    assert partition_label((("r", "a,s=b"), ("s", "c"))) == "r=a%2Cs%3Db,s=c"
    assert partition_label((("r", "a"), ("s", "b,s=c"))) == "r=a,s=b%2Cs%3Dc"
    assert partition_label((("r", "[%]"),)) == "r=%5B%25%5D"


def test_plain_partition_keys_keep_their_readable_step_ids() -> None:
    assert step_id("p.py:sales", (("region", "emea"), ("day", "2026-11-22"))) == "p.py:sales[region=emea,day=2026-11-22]"


def test_keys_that_differ_only_in_id_syntax_give_distinct_steps() -> None:
    g = graph(node("x", partitions=(static("r", "a,s=b", "a"), static("s", "c", "b,s=c"))))
    plan = make_plan(g)
    assert plan.total_steps == 4
    assert {s.partition for s in plan.steps.values()} == {
        (("r", "a,s=b"), ("s", "c")), (("r", "a,s=b"), ("s", "b,s=c")),
        (("r", "a"), ("s", "c")), (("r", "a"), ("s", "b,s=c")),
    }


def test_a_hand_written_graph_whose_steps_share_an_id_is_a_plan_error() -> None:
    # The operator accepts a compiled graph from a Pipeline object, which need not come
    # from the parser: the planner refuses rather than silently dropping a step.
    partitioned = node("x", partitions=(static("r", "a"),))
    clash = node("y")._replace(id="p.py:x[r=a]")
    with pytest.raises(PlanError, match="two steps have the id 'p.py:x\\[r=a\\]'"):
        make_plan(graph(partitioned, clash))


TWO_DIMENSIONS = """
from barque import asset, collect, partitions

@asset(partitions={"r": partitions(["a,s=b", "a"]), "s": partitions(["c", "b,s=c"])})
def cell(r: str, s: str) -> str:
    return r + "|" + s

@asset(inputs={"every": collect(cell)})
def total(every: list) -> list:
    return sorted(every)
"""


def test_keys_that_would_share_an_id_each_run_as_their_own_step(tmp_path: Path) -> None:
    # Unencoded, (r="a,s=b", s="c") and (r="a", s="b,s=c") were both cell[r=a,s=b,s=c].
    pipeline(tmp_path, TWO_DIMENSIONS)
    summary = run_ok("pipeline.py", "total", cwd=tmp_path)
    assert summary["steps_executed"] == 5
    assert summary["final_output"] == ["a,s=b|b,s=c", "a,s=b|c", "a|b,s=c", "a|c"]


def test_a_partitioned_final_output_keeps_every_key_with_id_syntax(tmp_path: Path) -> None:
    pipeline(tmp_path, TWO_DIMENSIONS)
    summary = run_ok("pipeline.py", "cell", cwd=tmp_path)
    assert summary["final_output"] == {
        "r=a%2Cs%3Db,s=b%2Cs%3Dc": "a,s=b|b,s=c", "r=a%2Cs%3Db,s=c": "a,s=b|c",
        "r=a,s=b%2Cs%3Dc": "a|b,s=c", "r=a,s=c": "a|c",
    }


KEYS_FROM_DATA = """
from barque import asset, collect, partitions_from

@asset()
def keys() -> list:
    return ["a,b", "a", "b", "x=y", "[z]"]

@asset(partitions={"k": partitions_from(keys)})
def part(k: str) -> str:
    return "value of " + k

@asset(inputs={"every": collect(part)})
def total(every: list) -> list:
    return every
"""


def test_keys_from_data_with_id_syntax_run_and_are_collected_in_key_order(tmp_path: Path) -> None:
    pipeline(tmp_path, KEYS_FROM_DATA)
    summary = run_ok("pipeline.py", "total", cwd=tmp_path)
    assert summary["steps_executed"] == 7
    assert summary["final_output"] == ["value of [z]", "value of a", "value of a,b", "value of b", "value of x=y"]
