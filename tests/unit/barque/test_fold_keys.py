"""Partition keys and batch groups computed by a pure, bounded expression are folded by the parser; others stay run-time."""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

from hypothesis import given, settings, strategies as st

from barque.parsing.files import ModuleFinder
from barque.parsing.foldkeys import fold_groups, fold_keys
from barque.parsing.source import read_module


HEADER = "from barque import partitions\n"


def _fold(tmp_path: Path, source: str) -> tuple[str, ...] | None:
    mod = read_module("pipe.py", (HEADER + source).encode(), ModuleFinder(tmp_path))
    call = next(n for n in ast.walk(mod.tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "partitions")
    return fold_keys(mod, call.args[0])


def _python(source: str) -> tuple[str, ...]:
    module = types.ModuleType("pipe")  # a module as an import makes it, for sys.modules[__name__]
    sys.modules["pipe"] = module
    try:
        exec(compile(HEADER + source, "pipe.py", "exec"), vars(module))  # the test's own generated source
    finally:
        del sys.modules["pipe"]
    return tuple(str(k) for k in module.PARTS)


_ints = st.integers(-3, 9).map(str)
_int_expr = st.recursive(_ints, lambda e: st.tuples(e, st.sampled_from("+-*"), e).map(lambda t: f"({t[0]} {t[1]} {t[2]})"), max_leaves=3)
_str_expr = st.sampled_from(['"a"', '"k"', '""']) | _int_expr.map(lambda e: f"str({e})")
_key_list = st.one_of(
    st.tuples(_int_expr, _int_expr).map(lambda t: f"[x for x in range({t[0]}, {t[1]})]"),
    st.tuples(st.sampled_from(["03d", "", "x", ">4"]), _int_expr).map(lambda t: f'[f"k{{i:{t[0]}}}" for i in range({t[1]}) if i % 2 == 0]'),
    st.lists(_str_expr | _int_expr, max_size=4).map(lambda es: "[" + ", ".join(es) + "]"),
    st.tuples(_int_expr, _str_expr).map(lambda t: f"[{t[1]} + str(i * j) for i in range({t[0]}) for j in range(3)]"),
)


# Statements that change KEYS (or may: a call that receives it, an alias) between its
# assignment and its use; Python sees the change, so the parser must not fold the name.
MUTATIONS = {
    "append": "KEYS.append('m')\n",
    "extend": "KEYS.extend(['m', 'n'])\n",
    "augmented": "KEYS += ['m']\n",
    "item_assignment": "KEYS[:0] = ['m']\n",
    "del_item": "del KEYS[:1]\n",
    "reverse": "KEYS.reverse()\n",
    "call": "def grow(keys):\n    keys.append('m')\ngrow(KEYS)\n",
    "alias": "ALIAS = KEYS\nALIAS.insert(0, 'm')\n",
    "module_attribute": "import sys\nsys.modules[__name__].KEYS.append('m')\n",
    "rebinding": "KEYS = KEYS + ['m']\n",
}


@settings(max_examples=100, deadline=None)
@given(first=_key_list, second=_key_list, via_name=st.booleans(), mutation=st.sampled_from([None, *MUTATIONS]))
def test_folded_keys_equal_what_python_computes(tmp_path_factory, first: str, second: str, via_name: bool, mutation: str | None) -> None:
    tmp_path = tmp_path_factory.mktemp("fold")
    expr = f"{first} + {second}"
    if via_name or mutation:
        source = f"KEYS = {expr}\n{MUTATIONS.get(mutation or '', '')}PARTS = partitions(KEYS)\n"
    else:
        source = f"PARTS = partitions({expr})\n"
    folded, expected = _fold(tmp_path, source), _python(source)
    # Never a wrong fold, and never a fold of a mutated name; otherwise no fold only past the
    # budget (the expression then runs as before).
    assert folded == expected or (folded is None and (mutation is not None or len(expected) > 2_000))
    assert mutation is None or folded is None


def test_map_reduce_keys_are_folded(tmp_path: Path) -> None:
    source = 'KEYS = [f"k{i:03d}" for i in range(100)]\nPARTS = partitions(KEYS)\n'
    assert _fold(tmp_path, source) == tuple(f"k{i:03d}" for i in range(100))


def test_expression_outside_the_subset_is_not_folded(tmp_path: Path) -> None:
    for expr in ["sorted(['b', 'a'])", "[k.upper() for k in ['a']]", "load_keys()", "[f'{i!r}' for i in range(2)]"]:
        assert _fold(tmp_path, f"PARTS = partitions({expr})\n") is None, expr


def test_a_name_mutated_or_rebound_anywhere_is_not_folded(tmp_path: Path) -> None:
    base = "KEYS = [str(i) for i in range(3)]\n"
    for touch in ["KEYS.append('x')\n", "KEYS += ['x']\n", "def f():\n    global KEYS\n", "KEYS[0] = 'x'\n",
                  "del KEYS\n", "from os import *\n", "print(KEYS)\n", "KEYS = ['a']\n"]:
        assert _fold(tmp_path, base + touch + "PARTS = partitions(KEYS)\n") is None, touch


def test_work_past_the_budget_is_not_folded(tmp_path: Path) -> None:
    assert _fold(tmp_path, "PARTS = partitions([i for i in range(10**9)])\n") is None
    assert _fold(tmp_path, "PARTS = partitions([i for i in range(1000) for j in range(1000)])\n") is None
    assert _fold(tmp_path, "PARTS = partitions([f'{1:99999999}'])\n") is None


def test_a_name_bound_only_inside_a_block_or_rebound_through_globals_is_not_folded(tmp_path: Path) -> None:
    for module in ["import os\nif os.environ.get('X'):\n    KEYS = ['a', 'b']\n",
                   "try:\n    KEYS = ['a', 'b']\nexcept ImportError:\n    pass\n",
                   "KEYS = ['a', 'b']\nglobals()['KEYS'] = ['c']\n"]:
        assert _fold(tmp_path, module + "PARTS = partitions([k for k in KEYS])\n") is None, module
    assert _fold(tmp_path, "KEYS = ['a', 'b']\nPARTS = partitions([k for k in KEYS])\n") == ("a", "b")


def test_a_format_width_of_five_digits_or_more_is_not_folded(tmp_path: Path) -> None:
    assert _fold(tmp_path, "PARTS = partitions([f'{1:99999}'])\n") is None
    assert _fold(tmp_path, "PARTS = partitions([f'{1:>4}'])\n") == ("   1",)


def test_a_name_kept_under_an_alias_or_holding_inner_lists_is_not_folded(tmp_path: Path) -> None:
    for module in ["KEYS = ['a']\nALIAS = KEYS\nALIAS.append('b')\n",
                   "KEYS = ['a']\ndef f():\n    return KEYS\nf().append('b')\n",
                   "KEYS = ['a']\nBOTH = [KEYS]\n"]:
        assert _fold(tmp_path, module + "PARTS = partitions([k for k in KEYS])\n") is None, module
    rows = "ROWS = [['a'], ['b']]\nfor row in ROWS:\n    row.append('x')\n"
    assert _fold(tmp_path, rows + "PARTS = partitions([k for r in ROWS for k in r])\n") is None


def test_a_name_read_twice_folds_to_the_same_keys_as_python(tmp_path: Path) -> None:
    source = "KEYS = ['a', 'b']\nPARTS = partitions([x + y for x in KEYS for y in KEYS])\n"
    assert _fold(tmp_path, source) == _python(source) == ("aa", "ab", "ba", "bb")


def test_a_str_conversion_applies_before_the_format_spec(tmp_path: Path) -> None:
    assert _fold(tmp_path, "PARTS = partitions([f'{5!s:03d}'])\n") is None  # Python raises: left to run time
    assert _fold(tmp_path, "PARTS = partitions([f'{5!s:>3}'])\n") == ("  5",)


# Statements that change GROUPS or one of its groups; "loop" reaches a group without naming GROUPS' items.
GROUP_MUTATIONS = {
    "append": "GROUPS.append(['m'])\n",
    "inner_append": "GROUPS[0].append('m')\n",
    "loop": "for group in GROUPS:\n    group.append('m')\n",
    "comprehension": "FIRSTS = [group for group in GROUPS]\nFIRSTS[0].append('m')\n",
    "sum": "ALL = GROUPS + []\nALL[0].append('m')\n",
    "call": "def grow(groups):\n    groups[0].append('m')\ngrow(GROUPS)\n",
    "batches_outside_a_decorator": "batches(GROUPS)[0].append('m')\n",
}


def _fold_groups(tmp_path: Path, source: str) -> tuple[tuple[str, ...], ...] | None:
    mod = read_module("pipe.py", (GROUP_HEADER + source).encode(), ModuleFinder(tmp_path))
    decorator = mod.tree.body[-1].decorator_list[0]  # type: ignore[attr-defined]
    batch = next(kw.value for kw in decorator.keywords if kw.arg == "batch")
    return fold_groups(mod, batch.args[0])


GROUP_HEADER = "from barque import asset, batches, partitions\n"
_group = st.lists(st.sampled_from(['"a"', '"b"', "1", 'f"k{2:02d}"', "str(3 * 3)"]), min_size=1, max_size=3).map(lambda es: "[" + ", ".join(es) + "]")


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(_group, min_size=1, max_size=3), mutation=st.sampled_from([None, *GROUP_MUTATIONS]))
def test_folded_groups_equal_what_python_computes(tmp_path_factory, groups: list[str], mutation: str | None) -> None:
    tmp_path = tmp_path_factory.mktemp("groups")
    source = (f"GROUPS = [{', '.join(groups)}]\n{GROUP_MUTATIONS.get(mutation or '', '')}"
              "@asset(partitions={'k': partitions(['a'])}, batch=batches(GROUPS))\ndef a(k: list): return {}\n")
    module = types.ModuleType("pipe")
    exec(compile(GROUP_HEADER + source, "pipe.py", "exec"), vars(module))  # the test's own generated source
    expected = tuple(tuple(str(k) for k in group) for group in module.GROUPS)
    folded = _fold_groups(tmp_path, source)
    assert folded == expected if mutation is None else folded is None
