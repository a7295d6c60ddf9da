"""Definition errors stop ``barque run`` before anything runs (exit 2, file:line, a hint), and
what the parser accepts runs (issue 7, items 5 and 12, seen from the command line).

Real parts: the ``barque`` CLI in a child process, files in a temporary folder, the
local-folder store. barca is not installed here, so ``from barca import ...`` uses barque.
"""

from __future__ import annotations

from pathlib import Path

from ..runtime.clirun import barque, pipeline, ran, run_ok, write


def test_a_bare_asset_from_barca_runs_without_barca_installed(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barca import asset, task

        @asset
        def raw() -> int:
            trace("raw")
            return 2

        @asset(inputs={"x": raw})
        def doubled(x: int) -> int:
            trace("doubled")
            return x * 2
        """)
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["final_output"] == 4
    assert ran(tmp_path) == ["raw", "doubled"]


def test_a_bare_task_from_barque_runs(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barque import task

        @task
        def hello() -> str:
            trace("hello")
            return "hi"
        """)
    assert run_ok("pipeline.py", "hello", cwd=tmp_path)["final_output"] == "hi"
    assert ran(tmp_path) == ["hello"]


def test_a_pipeline_named_like_a_standard_module_exits_2_with_a_rename_hint(tmp_path: Path) -> None:
    pipeline(tmp_path, "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n", name="json.py")
    result = barque("run", "json.py", "--pretty", cwd=tmp_path)
    assert result.code == 2
    assert "json.py: the module name 'json' is taken by the standard library's module json" in result.stderr
    assert "hint: Rename json.py" in result.stderr and "changed after planning" not in result.stderr


def test_a_shadowed_node_exits_2_before_anything_runs(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barque import asset

        @asset()
        def report() -> int:
            trace("report")
            return 1

        def report() -> int:
            trace("the other report")
            return 2
        """)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 2
    assert "pipeline.py:4:1: `report` is defined again at pipeline.py:8:1" in result.stderr
    assert ran(tmp_path) == []


def test_a_forward_reference_in_inputs_exits_2_before_anything_runs(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barque import asset

        @asset(inputs={"x": later})
        def early(x: int) -> int:
            trace("early")
            return x

        @asset()
        def later() -> int:
            trace("later")
            return 1
        """)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 2 and "pipeline.py:3:21:" in result.stderr and "NameError" in result.stderr
    assert ran(tmp_path) == []


def test_a_module_level_return_exits_2_before_anything_runs(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n\nreturn\n")
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 2 and "pipeline.py:7:1: syntax error: 'return' outside function" in result.stderr
