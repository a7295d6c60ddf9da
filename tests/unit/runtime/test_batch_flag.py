"""barca's ``--batch [NODE=]none|all|N``: ``batch=`` overridden for one run.

Pure for the flag's forms (``barque.batchflag``); real for the calls a run makes: the
``barque`` CLI in a child process, the function noting each call's keys in a file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.errors import BarqueError
from barque.model import BatchSpec, Graph, Node, PartitionSpec
from barque.batchflag import EVERY, apply_batch_flags, parse_batch_flags

from .clirun import barque, write

KEYS = (PartitionSpec("k", "static", values=("a", "b", "c", "d")),)
GRAPH = Graph(".", {
    "p.py:scored": Node(id="p.py:scored", kind="asset", file="p.py", module="p", function="scored", line=1, partitions=KEYS,
                        batch=BatchSpec("size", size=2)),
    "p.py:other": Node(id="p.py:other", kind="asset", file="p.py", module="p", function="other", line=2, partitions=KEYS,
                       batch=BatchSpec("all")),
    "p.py:plain": Node(id="p.py:plain", kind="asset", file="p.py", module="p", function="plain", line=3, partitions=KEYS),
})


def test_none_all_and_a_number_are_one_key_per_call_one_call_and_at_most_n() -> None:
    assert parse_batch_flags(["none", "scored=all", "other=20"]) == {
        EVERY: BatchSpec("size", size=1), "scored": BatchSpec("all"), "other": BatchSpec("size", size=20)}


@pytest.mark.parametrize("flag", ["0", "-1", "some", "=3", "scored="])
def test_a_value_that_is_not_a_setting_is_a_usage_error(flag: str) -> None:
    with pytest.raises(BarqueError) as err:
        parse_batch_flags([flag])
    assert err.value.exit_code == 2


def test_a_flag_without_a_node_overrides_every_batched_node_and_no_other() -> None:
    nodes = apply_batch_flags(GRAPH, parse_batch_flags(["none"])).nodes
    assert [nodes[n].batch for n in ("p.py:scored", "p.py:other", "p.py:plain")] == [BatchSpec("size", size=1)] * 2 + [None]


def test_a_named_node_wins_over_the_flag_without_a_node() -> None:
    nodes = apply_batch_flags(GRAPH, parse_batch_flags(["scored=3", "1"])).nodes
    assert nodes["p.py:scored"].batch == BatchSpec("size", size=3) and nodes["p.py:other"].batch == BatchSpec("size", size=1)


def test_naming_a_node_without_batch_is_a_usage_error() -> None:
    with pytest.raises(BarqueError, match="p.py:plain, which declares no batch="):
        apply_batch_flags(GRAPH, parse_batch_flags(["plain=all"]))


PIPELINE = """
from barca import asset, partitions

@asset(partitions={"k": partitions(["a", "b", "c", "d"])}, batch=2)
def scored(k: list) -> dict:
    with open("calls.txt", "a") as f:
        f.write(",".join(k) + "\\n")
    return {key: key.upper() for key in k}
"""


@pytest.mark.parametrize(("flag", "calls"), [("none", ["a", "b", "c", "d"]), ("all", ["a,b,c,d"]), ("scored=3", ["a,b,c", "d"])])
def test_a_run_makes_the_calls_the_flag_asks_for(tmp_path: Path, flag: str, calls: list[str]) -> None:
    write(tmp_path, "pipeline.py", PIPELINE)
    done = barque("get", "scored", "pipeline.py", "--batch", flag, cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.json["final_output"] == {"k=a": "A", "k=b": "B", "k=c": "C", "k=d": "D"}
    assert (tmp_path / "calls.txt").read_text().split() == calls
