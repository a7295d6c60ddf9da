"""Edits a cached value must not survive: constants, classes, helpers reached by getattr, and
two nodes with the same body in two files; plus bodies the hashing walk once choked on.

Real: the `barque` CLI in a child process and a local-folder store; each test runs the
pipeline, edits a file, runs again and checks the value (not only the counts).
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, run_ok, write


def _run(folder: Path, *args: str) -> dict:
    return run_ok("pipeline.py", *args, cwd=folder)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


CONSTANT = """
from barque import asset

RATE = 2

def scale(x):
    return x * RATE

@asset()
def priced() -> int:
    return scale(10)
"""


def test_editing_a_module_constant_a_helper_reads_reruns_with_the_new_value(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", CONSTANT)
    assert _run(tmp_path)["final_output"] == 20
    _edit(tmp_path / "pipeline.py", "RATE = 2", "RATE = 3")
    summary = _run(tmp_path)
    assert (summary["steps_executed"], summary["final_output"]) == (1, 30)


def test_editing_a_constant_imported_from_another_file_reruns_and_dry_run_names_it(tmp_path: Path) -> None:
    write(tmp_path, "util.py", "RATE = 2\n")
    write(tmp_path, "pipeline.py", "from barque import asset\nfrom util import RATE\n\n@asset()\ndef priced() -> int:\n    return 10 * RATE\n")
    assert _run(tmp_path)["final_output"] == 20
    _edit(tmp_path / "util.py", "RATE = 2", "RATE = 3")
    dry = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path).json
    assert [(s["action"], s["reason"]) for s in dry["steps"]] == [("run", "changed: helper util.py:RATE")]
    assert _run(tmp_path)["final_output"] == 30


def test_editing_a_method_of_a_class_the_asset_uses_reruns_it(tmp_path: Path) -> None:
    source = """
    from barque import asset

    class Model:
        def predict(self, x):
            return x + 1

    @asset()
    def scored() -> int:
        return Model().predict(1)
    """
    write(tmp_path, "pipeline.py", source)
    assert _run(tmp_path)["final_output"] == 2
    _edit(tmp_path / "pipeline.py", "return x + 1", "return x + 5")
    summary = _run(tmp_path)
    assert (summary["steps_executed"], summary["final_output"]) == (1, 6)


def test_editing_a_helper_reached_through_getattr_reruns_the_asset(tmp_path: Path) -> None:
    write(tmp_path, "util.py", "def f():\n    return 1\n")
    write(tmp_path, "pipeline.py", 'import util\nfrom barque import asset\n\n@asset()\ndef picked() -> int:\n    return getattr(util, "f")()\n')
    assert _run(tmp_path)["final_output"] == 1
    _edit(tmp_path / "util.py", "return 1", "return 2")
    assert _run(tmp_path)["final_output"] == 2


def test_a_getattr_with_a_computed_name_reruns_on_any_edit_of_that_module(tmp_path: Path) -> None:
    write(tmp_path, "util.py", "def f():\n    return 1\n")
    source = 'import util\nfrom barque import asset\n\nNAME = "f"\n\n@asset()\ndef picked() -> int:\n    return getattr(util, NAME)()\n'
    write(tmp_path, "pipeline.py", source)
    assert _run(tmp_path)["final_output"] == 1
    _edit(tmp_path / "util.py", "return 1", "return 2")
    dry = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path).json
    assert dry["steps"][0]["reason"] == "changed: helper util.py:*"
    assert _run(tmp_path)["final_output"] == 2


TWIN = """
from barque import asset

RATE = {rate}

@asset()
def priced() -> int:
    return 10 * RATE
"""


def test_two_nodes_with_the_same_body_in_two_files_each_get_their_own_value(tmp_path: Path) -> None:
    write(tmp_path, "a.py", TWIN.format(rate=2))
    write(tmp_path, "b.py", TWIN.format(rate=3))
    assert run_ok("a.py", cwd=tmp_path)["final_output"] == 20
    summary = run_ok("b.py", cwd=tmp_path)
    assert (summary["steps_executed"], summary["final_output"]) == (1, 30)


def test_two_same_body_nodes_in_one_run_each_return_their_files_constant_after_an_edit(tmp_path: Path) -> None:
    write(tmp_path, "a.py", TWIN.format(rate=2))
    write(tmp_path, "b.py", TWIN.format(rate=3))
    run_ok(".", cwd=tmp_path)
    _edit(tmp_path / "b.py", "RATE = 3", "RATE = 4")
    assert run_ok(".", cwd=tmp_path)["steps_executed"] == 1
    shown = [barque("show", ".", f"{f}:priced", cwd=tmp_path).stdout.strip() for f in ("a.py", "b.py")]
    assert shown == ["20", "40"]


def test_identical_twins_reading_identical_constants_still_keep_separate_entries(tmp_path: Path) -> None:
    # Same body and same RATE: the keys still differ by node id, so b.py runs its own code.
    write(tmp_path, "a.py", TWIN.format(rate=2))
    write(tmp_path, "b.py", TWIN.format(rate=2))
    run_ok("a.py", cwd=tmp_path)
    assert run_ok("b.py", cwd=tmp_path)["steps_executed"] == 1


def test_a_990_term_expression_in_a_body_runs_and_is_cached(tmp_path: Path) -> None:
    expr = "+".join(["1"] * 990)
    write(tmp_path, "pipeline.py", f"from barque import asset\n\n@asset()\ndef big() -> int:\n    return {expr}\n")
    assert _run(tmp_path)["final_output"] == 990
    assert _run(tmp_path)["steps_cached"] == 1
