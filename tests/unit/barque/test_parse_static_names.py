"""The parser reads a module-level name's value (partition keys, batch groups) only when Python
cannot change it before the decorator or the run reads it; else the run evaluates it.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.model import BatchSpec, Node, PartitionSpec
from barque.parsing import staticnames

from .fixtures.parse import parse, parse_error, write

HEADER = "from barque import asset, batches, partitions\n"
# Ways a module changes a list after assigning it (or may: a call that receives it, an alias).
MUTATIONS = {
    "append": "{name}.append('b')",
    "extend": "{name}.extend(['b'])",
    "augmented_assignment": "{name} += ['b']",
    "item_assignment": "{name}[0] = 'b'",
    "del": "del {name}[0]",
    "call_that_receives_it": "def grow(keys):\n    keys.append('b')\ngrow({name})",
    "alias": "ALIAS = {name}\nALIAS.append('b')",
    "module_attribute": "import sys\nsys.modules[__name__].{name}.append('b')",
    "getattr": "import sys\ngetattr(sys.modules[__name__], '{name}').append('b')",
    "globals": "globals()['{name}'] = ['b']",
}


def node_of(tmp_path: Path, body: str) -> Node:
    write(tmp_path, {"p.py": HEADER + body})
    return parse(tmp_path).nodes["p.py:a"]


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_mutated_key_list_is_left_to_the_run(tmp_path: Path, mutation: str) -> None:
    change = MUTATIONS[mutation].format(name="KEYS")
    node = node_of(tmp_path, f"KEYS = ['a']\n{change}\n\n@asset(partitions={{'k': partitions(KEYS)}})\ndef a(k): return k\n")
    assert node.partitions == (PartitionSpec("k", "expr", expr="KEYS"),)


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_mutated_group_list_is_left_to_the_run(tmp_path: Path, mutation: str) -> None:
    change = MUTATIONS[mutation].format(name="GROUPS")
    node = node_of(tmp_path, f"GROUPS = [['a'], ['c']]\n{change}\n\n"
                             "@asset(partitions={'k': partitions(['a', 'b', 'c'])}, batch=batches(GROUPS))\ndef a(k: list): return {}\n")
    assert node.batch == BatchSpec("groups_expr", expr="GROUPS")


def test_an_inner_group_changed_through_a_loop_is_left_to_the_run(tmp_path: Path) -> None:
    node = node_of(tmp_path, "GROUPS = [['a'], ['c']]\nfor group in GROUPS:\n    group.append('b')\n\n"
                             "@asset(partitions={'k': partitions(['a', 'b', 'c'])}, batch=batches(GROUPS))\ndef a(k: list): return {}\n")
    assert node.batch == BatchSpec("groups_expr", expr="GROUPS")


def test_names_only_read_are_folded_for_keys_and_groups(tmp_path: Path) -> None:
    node = node_of(tmp_path, "KEYS = ['a', 'b', 'c']\nGROUPS = [['a', 'b'], ['c']]\nassert len(f'{KEYS}') > 0\n\n"
                             "@asset(partitions={'k': partitions(KEYS)}, batch=batches(GROUPS, strict=True))\ndef a(k: list): return {}\n")
    assert node.partitions == (PartitionSpec("k", "static", values=("a", "b", "c")),)
    assert node.batch == BatchSpec("groups", groups=(("a", "b"), ("c",)), strict=True)


def test_barque_partitions_through_the_module_or_an_alias_reads_the_name(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": "import barque\nfrom barque import asset, partitions as keys_of\n"
                             "KEYS = ['a']\nMORE = ['b']\n\n"
                             "@asset(partitions={'k': barque.partitions(KEYS), 'm': keys_of(MORE)})\ndef a(k, m): return k\n"})
    assert [p.values for p in parse(tmp_path).nodes["p.py:a"].partitions] == [("a",), ("b",)]


def test_a_call_named_partitions_that_is_not_barques_does_not_count_as_a_read(tmp_path: Path) -> None:
    # f's parameter shadows barque's partitions: f(list.append) would change KEYS.
    node = node_of(tmp_path, "KEYS = ['a']\ndef f(partitions):\n    partitions(KEYS)\n\n"
                             "@asset(partitions={'k': partitions(KEYS)})\ndef a(k): return k\n")
    assert node.partitions == (PartitionSpec("k", "expr", expr="KEYS"),)


def test_batches_of_a_name_outside_a_decorator_keeps_an_alias_and_is_left_to_the_run(tmp_path: Path) -> None:
    # batches() returns its argument: SAME is GROUPS itself.
    node = node_of(tmp_path, "GROUPS = [['a']]\nSAME = batches(GROUPS)\nSAME.append(['b'])\n\n"
                             "@asset(partitions={'k': partitions(['a', 'b'])}, batch=batches(GROUPS))\ndef a(k: list): return {}\n")
    assert node.batch == BatchSpec("groups_expr", expr="GROUPS")


def test_a_folded_group_list_is_checked_as_a_literal_one(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "GROUPS = [['a'], ['b', 'a']]\n\n"
                             "@asset(partitions={'k': partitions(['a', 'b'])}, batch=batches(GROUPS))\ndef a(k: list): return {}\n"})
    err = parse_error(tmp_path)
    assert "names the key 'a' in two groups" in err.message
    assert err.where == "p.py:4:64"  # the argument of batches(...)


def test_a_module_is_walked_once_however_many_decorators_read_its_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[object] = []
    real = staticnames._walk
    monkeypatch.setattr(staticnames, "_walk", lambda tree: walks.append(tree) or real(tree))
    body = "KEYS = [f'k{i}' for i in range(3)]\nGROUPS = [['k0'], ['k1']]\n" + "".join(
        f"\n@asset(partitions={{'k': partitions(KEYS)}}, batch=batches(GROUPS))\ndef a{i}(k: list): return {{}}\n" for i in range(30)
    )
    write(tmp_path, {"p.py": HEADER + body})
    graph = parse(tmp_path)
    assert {n.partitions[0].kind for n in graph.nodes.values()} == {"static"}
    assert len(walks) == 1
