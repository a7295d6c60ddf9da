"""A node's function is bound once, at the top level of its module (issue 7, item 5).

A run imports the module and calls what the node's name is bound to afterwards; anything
that rebinds the name, or a def that may not run, is refused at parse time with both places.
Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

from barque.errors import PipelineDefinitionError

from .fixtures.parse import parse, parse_error, write

HEADER = "from barque import asset, task\n"


def error_in(tmp_path: Path, body: str) -> PipelineDefinitionError:
    write(tmp_path, {"p.py": HEADER + body.lstrip("\n")})
    return parse_error(tmp_path)


NODE = """
@asset()
def report() -> int:
    return 1
"""


def test_a_node_shadowed_by_a_later_def_is_refused_naming_both_places(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "\ndef report() -> int:\n    return 2\n")
    assert err.where == "p.py:3:1"
    assert err.message.startswith("`report` is defined again at p.py:6:1; a node's function must be bound once")
    assert "Rename one of them" in (err.hint or "")


def test_two_named_nodes_on_functions_of_one_name_are_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(name="a")\ndef f(): return 1\n\n@asset(name="b")\ndef f(): return 2\n')
    assert err.where == "p.py:3:1" and "`f` is defined again at p.py:6:1" in err.message


def test_a_node_rebound_by_an_assignment_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "report = 5\n")
    assert err.where == "p.py:3:1" and "`report` is assigned again at p.py:5:1" in err.message


def test_a_node_deleted_later_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "del report\n")
    assert "`report` is deleted at p.py:5:1" in err.message


def test_a_node_rebound_by_an_import_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "from os import path as report\n")
    assert "`report` is imported again at p.py:5:1" in err.message


def test_a_node_rebound_inside_a_block_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "for report in range(3):\n    pass\n")
    assert "`report` is assigned again at p.py:5:1" in err.message


def test_a_node_rebound_by_a_walrus_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "print(report := 3)\n")
    assert "`report` is assigned again at p.py:5:7" in err.message


def test_a_node_name_used_by_except_as_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "try:\n    pass\nexcept OSError as report:\n    pass\n")
    assert "by `except ... as` at p.py:7:1" in err.message


def test_a_function_declaring_the_node_name_global_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, NODE + "\ndef reset():\n    global report\n    report = None\n")
    assert err.where == "p.py:7:5" and "declares `global report`" in err.message


def test_a_node_defined_under_if_false_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\nif False:\n    @asset()\n    def report() -> int:\n        return 1\n")
    assert err.where == "p.py:4:5"
    assert "inside the `if` block at p.py:2:1" in err.message
    assert "top level of its module" in err.message


def test_a_node_defined_inside_a_try_block_is_refused(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\ntry:\n    @asset()\n    def report() -> int:\n        return 1\nexcept ImportError:\n    pass\n")
    assert "inside the `try` block at p.py:2:1" in err.message


def test_an_earlier_plain_binding_of_the_name_is_fine(tmp_path: Path) -> None:
    # Python binds the node's def last, which is what a run calls.
    write(tmp_path, {"p.py": HEADER + "report = None\n\ndef report(): return 0\n" + NODE})
    assert list(parse(tmp_path).nodes) == ["p.py:report"]


def test_rebinding_other_names_and_local_names_is_fine(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + NODE + """
helper = 1
helper = 2

def uses() -> int:
    report = 3  # a local of its own
    return report

class Holder:
    report = 4
"""})
    assert list(parse(tmp_path).nodes) == ["p.py:report"]
